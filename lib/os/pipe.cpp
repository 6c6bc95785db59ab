// The parent's ends of a child's standard streams: Async pipes.
//
// A write to a pipe whose reader is gone raises SIGPIPE in the writing thread
// before failing with EPIPE, and pipes have no MSG_NOSIGNAL. So each write
// blocks SIGPIPE in its thread, and if the write failed with EPIPE and no
// SIGPIPE was pending before, takes the one it raised (sigtimedwait, zero
// timeout) before restoring the mask. SIGPIPE raised by a write is directed
// at the thread that wrote, so no other thread can see or steal it. It costs
// three system calls a write; child stdin is not a fast path.
#include <weft/process.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "os_error.hpp"

namespace weft::process {

namespace {

ssize_t write_quietly(int fd, const void* buf, std::size_t n) noexcept {
  sigset_t pipe_only, old, pending;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  ssize_t r = ::write(fd, buf, n);
  const int e = errno;
  if (r < 0 && e == EPIPE && !was_pending) {
    timespec zero{0, 0};
    while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = e;
  return r;
}

std::error_code closed() noexcept { return {EBADF, std::generic_category()}; }

}  // namespace

PipeReader::PipeReader(OwnedFd fd) { io_.emplace(std::move(fd)); }

std::size_t PipeReader::read_some(void* buf, std::size_t n, std::error_code& ec,
                                  Deadline d) noexcept {
  if (!io_) {
    ec = closed();
    return 0;
  }
  if (n == 0) {
    ec.clear();
    return 0;
  }
  auto r = io_->read_with([&](OwnedFd& f) { return ::read(f.native_handle(), buf, n); }, ec, d);
  return r < 0 ? 0 : static_cast<std::size_t>(r);
}

std::size_t PipeReader::read_some(void* buf, std::size_t n, Deadline d) {
  std::error_code ec;
  std::size_t got = read_some(buf, n, ec, d);
  if (ec) os::fail(ec, "weft::process: read from pipe");
  return got;
}

std::size_t PipeReader::read_to_end(std::string& out, std::error_code& ec, Deadline d) noexcept {
  std::size_t total = 0;
  ec.clear();
  try {
    for (;;) {
      const std::size_t old = out.size();
      // The string's capacity grows geometrically; a chunk as large as a
      // default pipe buffer (64 KiB) is as much as one read can return.
      const std::size_t chunk = std::clamp<std::size_t>(old, 4096, 65536);
      out.resize(old + chunk);
      std::size_t got = read_some(out.data() + old, chunk, ec, d);
      out.resize(old + got);
      total += got;
      if (ec || got == 0) return total;
    }
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return total;
  }
}

std::string PipeReader::read_to_end(Deadline d) {
  std::string out;
  std::error_code ec;
  read_to_end(out, ec, d);
  if (ec) os::fail(ec, "weft::process: read from pipe");
  return out;
}

PipeWriter::PipeWriter(OwnedFd fd) { io_.emplace(std::move(fd)); }

std::size_t PipeWriter::write_some(const void* buf, std::size_t n, std::error_code& ec,
                                   Deadline d) noexcept {
  if (!io_) {
    ec = closed();
    return 0;
  }
  if (n == 0) {
    ec.clear();
    return 0;
  }
  auto r =
      io_->write_with([&](OwnedFd& f) { return write_quietly(f.native_handle(), buf, n); }, ec, d);
  return r < 0 ? 0 : static_cast<std::size_t>(r);
}

std::size_t PipeWriter::write_some(const void* buf, std::size_t n, Deadline d) {
  std::error_code ec;
  std::size_t put = write_some(buf, n, ec, d);
  if (ec) os::fail(ec, "weft::process: write to pipe");
  return put;
}

std::size_t PipeWriter::write_all(const void* buf, std::size_t n, std::error_code& ec,
                                  Deadline d) noexcept {
  const char* p = static_cast<const char*>(buf);
  std::size_t done = 0;
  ec.clear();
  while (done < n) {
    done += write_some(p + done, n - done, ec, d);
    if (ec) break;
  }
  return done;
}

void PipeWriter::write_all(const void* buf, std::size_t n, Deadline d) {
  std::error_code ec;
  write_all(buf, n, ec, d);
  if (ec) os::fail(ec, "weft::process: write to pipe");
}

}  // namespace weft::process
