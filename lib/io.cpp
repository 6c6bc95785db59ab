// The glue between Async<T> and the reactor: registration, waiting in a fiber
// (reactor) or on a plain thread (poll(2)), and errno hygiene.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

#include <weft/async.hpp>
#include <weft/errors.hpp>
#include <weft/scope.hpp>

#include "fiber_record.hpp"
#include "reactor.hpp"
#include "runtime_core.hpp"
#include "worker.hpp"

namespace weft::detail {

void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0))
    throw std::system_error(errno, std::generic_category(), "weft: cannot make descriptor non-blocking");
}

void io_attach(IoHandle& h, int fd) {
  if (h.source || fd < 0) return;
  FiberRecord* rec = current_record();
  if (!rec) return;  // registered by the first fiber that waits on it
  std::uint32_t gen = 0;
  IoSource* s = rec->rt->reactor.add(fd, gen);
  h.source = s;
  h.rt = rec->rt;
  h.gen = gen;
}

void io_detach(IoHandle& h) noexcept {
  if (!h.source) return;
  h.rt->reactor.remove(static_cast<IoSource*>(h.source), h.gen);
  h = IoHandle{};
}

namespace {
bool poll_wait(int fd, int dir, Deadline deadline, std::error_code& ec) noexcept {
  for (;;) {
    int timeout = -1;
    if (deadline != no_deadline) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        ec = std::make_error_code(std::errc::timed_out);
        return false;
      }
      timeout = left > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(left);
    }
    pollfd p{fd, static_cast<short>(dir == 0 ? POLLIN : POLLOUT), 0};
    int n = ::poll(&p, 1, timeout);
    if (n > 0) {
      if (p.revents & POLLNVAL) {
        ec = std::make_error_code(std::errc::bad_file_descriptor);
        return false;
      }
      return true;
    }
    if (n < 0 && errno != EINTR) {
      ec.assign(errno, std::generic_category());
      return false;
    }
  }
}
}  // namespace

bool io_wait(IoHandle& h, int fd, int dir, Deadline deadline, std::error_code& ec, bool drained) noexcept {
  Worker* w = current_worker();
  FiberRecord* rec = w ? current_record() : nullptr;
  // poll(2) is level-triggered: drained or not, a thread just waits there.
  if (!rec) return poll_wait(fd, dir, std::min(deadline, current_deadline()), ec);
  if (rec->cancelled.load(std::memory_order_relaxed)) {
    ec = std::make_error_code(std::errc::operation_canceled);
    return false;
  }
  if (!h.source) {
    try {
      io_attach(h, fd);
    } catch (const std::system_error& e) {
      ec = e.code();
      return false;
    }
  }
  if (h.rt != rec->rt) {
    // Registered with another runtime's reactor: wait there is impossible,
    // so wait the slow way rather than hang.
    return poll_wait(fd, dir, std::min(deadline, rec->scope_deadline), ec);
  }
  // No clock read for the common case of no deadline at all.
  if (const auto d = std::min(deadline, rec->scope_deadline); d != Clock::time_point::max() && d <= Clock::now()) {
    ec = std::make_error_code(std::errc::timed_out);
    return false;
  }
  return rec->rt->reactor.wait(static_cast<IoSource*>(h.source), h.gen, dir, deadline, rec, w, ec, drained);
}

__attribute__((noinline)) int last_errno() noexcept {
  int e = errno;
  asm volatile("" : "+r"(e));
  return e;
}

void throw_io_error(std::error_code ec, const char* what) {
  // Throwing forms report cancellation as weft::Cancelled, like every wait.
  if (ec == std::errc::operation_canceled) throw Cancelled();
  throw std::system_error(ec, std::string("weft: ") + what);
}

}  // namespace weft::detail

namespace weft {

void OwnedFd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace weft
