// weft::fs::File: an open descriptor whose calls run on the blocking pool.
// seek() alone runs inline: lseek() only moves a number in the kernel.
#include <weft/fs.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "fs_ops.hpp"

namespace weft::fs {

namespace {
using detail::errno_code;
using detail::fail;
using detail::offload;

std::error_code closed() noexcept { return errno_code(EBADF); }
}  // namespace

File::File(File&& o) noexcept : fd_(std::exchange(o.fd_, -1)), path_(std::move(o.path_)) {}

File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    path_ = std::move(o.path_);
  }
  return *this;
}

// The destructor closes inline: it cannot park (a destructor is no place for
// a cancellation point), and close() of a local file does not block.
File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

File File::open(const fs::path& p, std::error_code& ec, int flags, mode_t mode) noexcept {
  // fd is set by the job itself: unblock() may throw Cancelled after the job
  // ran, and then the descriptor it opened must still be closed.
  int fd = -1;
  offload(ec, [&] {
    fd = ::open(p.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) ec = errno_code(errno);
  });
  if (ec) {
    if (fd >= 0) ::close(fd);
    return File();
  }
  try {
    return File(fd, p);
  } catch (...) {
    ::close(fd);
    ec = std::make_error_code(std::errc::not_enough_memory);
    return File();
  }
}

File File::open(const fs::path& p, int flags, mode_t mode) {
  std::error_code ec;
  File f = open(p, ec, flags, mode);
  if (ec) fail("open", p, ec);
  return f;
}

File File::create(const fs::path& p, mode_t mode) {
  return open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

std::size_t File::read(void* buf, std::size_t n, std::error_code& ec) noexcept {
  if (fd_ < 0) {
    ec = closed();
    return 0;
  }
  return offload(ec, [&]() -> std::size_t {
    for (;;) {
      ssize_t r = ::read(fd_, buf, n);
      if (r >= 0) return static_cast<std::size_t>(r);
      if (errno == EINTR) continue;
      ec = errno_code(errno);
      return 0;
    }
  });
}

std::size_t File::read(void* buf, std::size_t n) {
  std::error_code ec;
  std::size_t r = read(buf, n, ec);
  if (ec) fail("read", path_, ec);
  return r;
}

std::size_t File::write(const void* buf, std::size_t n, std::error_code& ec) noexcept {
  if (fd_ < 0) {
    ec = closed();
    return 0;
  }
  return offload(ec, [&]() -> std::size_t {
    for (;;) {
      ssize_t r = ::write(fd_, buf, n);
      if (r >= 0) return static_cast<std::size_t>(r);
      if (errno == EINTR) continue;
      ec = errno_code(errno);
      return 0;
    }
  });
}

std::size_t File::write(const void* buf, std::size_t n) {
  std::error_code ec;
  std::size_t r = write(buf, n, ec);
  if (ec) fail("write", path_, ec);
  return r;
}

std::size_t File::write_all(const void* buf, std::size_t n, std::error_code& ec) noexcept {
  if (fd_ < 0) {
    ec = closed();
    return 0;
  }
  // One trip to the pool for the whole buffer.
  return offload(ec, [&]() -> std::size_t {
    const char* p = static_cast<const char*>(buf);
    std::size_t done = 0;
    while (done < n) {
      ssize_t r = ::write(fd_, p + done, n - done);
      if (r >= 0) {
        done += static_cast<std::size_t>(r);
        continue;
      }
      if (errno == EINTR) continue;
      ec = errno_code(errno);
      break;
    }
    return done;
  });
}

void File::write_all(const void* buf, std::size_t n) {
  std::error_code ec;
  write_all(buf, n, ec);
  if (ec) fail("write", path_, ec);
}

std::size_t File::read_at(void* buf, std::size_t n, std::uint64_t offset,
                          std::error_code& ec) noexcept {
  if (fd_ < 0) {
    ec = closed();
    return 0;
  }
  return offload(ec, [&]() -> std::size_t {
    char* p = static_cast<char*>(buf);
    std::size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, p + done, n - done, static_cast<off_t>(offset + done));
      if (r > 0) {
        done += static_cast<std::size_t>(r);
        continue;
      }
      if (r == 0) break;  // end of file
      if (errno == EINTR) continue;
      ec = errno_code(errno);
      break;
    }
    return done;
  });
}

std::size_t File::read_at(void* buf, std::size_t n, std::uint64_t offset) {
  std::error_code ec;
  std::size_t r = read_at(buf, n, offset, ec);
  if (ec) fail("read_at", path_, ec);
  return r;
}

std::size_t File::write_at(const void* buf, std::size_t n, std::uint64_t offset,
                           std::error_code& ec) noexcept {
  if (fd_ < 0) {
    ec = closed();
    return 0;
  }
  return offload(ec, [&]() -> std::size_t {
    const char* p = static_cast<const char*>(buf);
    std::size_t done = 0;
    while (done < n) {
      ssize_t r = ::pwrite(fd_, p + done, n - done, static_cast<off_t>(offset + done));
      if (r >= 0) {
        done += static_cast<std::size_t>(r);
        continue;
      }
      if (errno == EINTR) continue;
      ec = errno_code(errno);
      break;
    }
    return done;
  });
}

void File::write_at(const void* buf, std::size_t n, std::uint64_t offset) {
  std::error_code ec;
  write_at(buf, n, offset, ec);
  if (ec) fail("write_at", path_, ec);
}

std::uint64_t File::seek(std::int64_t offset, int whence, std::error_code& ec) noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = closed();
    return 0;
  }
  off_t r = ::lseek(fd_, static_cast<off_t>(offset), whence);
  if (r < 0) {
    ec = errno_code(errno);
    return 0;
  }
  return static_cast<std::uint64_t>(r);
}

std::uint64_t File::seek(std::int64_t offset, int whence) {
  std::error_code ec;
  std::uint64_t r = seek(offset, whence, ec);
  if (ec) fail("seek", path_, ec);
  return r;
}

Metadata File::metadata(std::error_code& ec) noexcept {
  if (fd_ < 0) {
    ec = closed();
    return Metadata{};
  }
  return offload(ec, [&] {
    struct stat st;
    if (::fstat(fd_, &st) != 0) {
      ec = errno_code(errno);
      return Metadata{};
    }
    return detail::to_metadata(st);
  });
}

Metadata File::metadata() {
  std::error_code ec;
  Metadata m = metadata(ec);
  if (ec) fail("metadata", path_, ec);
  return m;
}

std::uint64_t File::size(std::error_code& ec) noexcept { return metadata(ec).size; }

std::uint64_t File::size() {
  std::error_code ec;
  std::uint64_t n = size(ec);
  if (ec) fail("size", path_, ec);
  return n;
}

bool File::set_size(std::uint64_t n, std::error_code& ec) noexcept {
  if (fd_ < 0) {
    ec = closed();
    return false;
  }
  return offload(ec, [&] {
    while (::ftruncate(fd_, static_cast<off_t>(n)) != 0) {
      if (errno == EINTR) continue;
      ec = errno_code(errno);
      return false;
    }
    return true;
  });
}

void File::set_size(std::uint64_t n) {
  std::error_code ec;
  if (!set_size(n, ec)) fail("set_size", path_, ec);
}

bool File::sync(std::error_code& ec) noexcept {
  if (fd_ < 0) {
    ec = closed();
    return false;
  }
  return offload(ec, [&] {
    if (::fsync(fd_) == 0) return true;
    ec = errno_code(errno);
    return false;
  });
}

void File::sync() {
  std::error_code ec;
  if (!sync(ec)) fail("sync", path_, ec);
}

bool File::sync_data(std::error_code& ec) noexcept {
  if (fd_ < 0) {
    ec = closed();
    return false;
  }
  return offload(ec, [&] {
    if (::fdatasync(fd_) == 0) return true;
    ec = errno_code(errno);
    return false;
  });
}

void File::sync_data() {
  std::error_code ec;
  if (!sync_data(ec)) fail("sync_data", path_, ec);
}

bool File::close(std::error_code& ec) noexcept {
  ec.clear();
  if (fd_ < 0) return true;
  int fd = std::exchange(fd_, -1);
  // Off the worker: a close() that flushes to a network file system blocks.
  // The descriptor is gone whatever close() says (Linux never leaves it open,
  // even on EINTR), so it is not retried.
  bool ran = false;
  int err = 0;
  offload(ec, [&] {
    ran = true;
    err = ::close(fd) == 0 ? 0 : errno;
  });
  // Cancelled before the job ran: close here so the descriptor cannot leak
  // (never twice: the number may belong to someone else by now).
  if (!ran) ::close(fd);
  if (!ec && err != 0 && err != EINTR) ec = errno_code(err);
  return !ec;
}

void File::close() {
  std::error_code ec;
  if (!close(ec)) fail("close", path_, ec);
}

}  // namespace weft::fs
