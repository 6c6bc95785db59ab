// Connecting and accepting: the two calls that wait in ways a plain read or
// write does not.
//
// connect_io(): a non-blocking connect() answers EINPROGRESS; writability then
// says the handshake ended, and SO_ERROR says how. A writable edge can be
// stale (a fresh TCP socket reports EPOLLOUT|EPOLLHUP when it is registered,
// before connect()), so success is confirmed with getpeername() and an
// unfinished handshake is waited for again, as Go's net package does. A Unix
// socket whose listener's backlog is full answers EAGAIN and offers no
// readiness to wait for: connect() is retried after a backoff.
//
// accept_io(): running out of descriptors (EMFILE, ENFILE) leaves the
// connection queued and the listener readable, so an accept loop that just
// retried would spin at full CPU. Sleep instead, 1 ms doubling to 100 ms (as
// Go's http.Server), and retry until a descriptor frees up.
#include <sys/socket.h>

#include <algorithm>

#include <weft/errors.hpp>
#include <weft/scope.hpp>
#include <weft/this_fiber.hpp>

#include "ops.hpp"

namespace weft::net::detail {

namespace {
using std::chrono::milliseconds;

// wait_connected() waits for a connect() in progress to end.
bool wait_connected(Io& io, Deadline d, std::error_code& ec) noexcept {
  const int fd = io.native_handle();
  for (;;) {
    if (!io.writable(ec, d)) return false;
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
      ec = errno_code();
      return false;
    }
    if (err == 0) {
      sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &sl) == 0) {
        ec.clear();
        return true;
      }
      int e = weft::detail::last_errno();
      if (e != ENOTCONN) {
        ec.assign(e, std::generic_category());
        return false;
      }
      continue;  // a stale edge: the handshake is still going on
    }
    if (err == EINPROGRESS || err == EALREADY || err == EINTR) continue;
    ec.assign(err, std::generic_category());
    return false;
  }
}
}  // namespace

bool backoff(milliseconds& delay, milliseconds cap, Deadline d, std::error_code& ec) noexcept {
  d = std::min(d, weft::current_deadline());  // a deadline scope around the call
  auto now = Clock::now();
  if (d <= now) {
    ec = std::make_error_code(std::errc::timed_out);
    return false;
  }
  Deadline until = d - now > delay ? now + delay : d;
  try {
    weft::this_fiber::sleep_until(until);
  } catch (const weft::Cancelled&) {
    ec = std::make_error_code(std::errc::operation_canceled);
    return false;
  } catch (const std::system_error& e) {
    ec = e.code();  // cut short by a deadline scope
    return false;
  }
  delay = std::min(delay * 2, cap);
  return true;
}

bool connect_io(Io& io, const SocketAddress& addr, Deadline d, std::error_code& ec) noexcept {
  const int fd = io.native_handle();
  milliseconds delay{1};
  for (;;) {
    if (::connect(fd, addr.data(), addr.size()) == 0) {
      ec.clear();
      return true;
    }
    int e = weft::detail::last_errno();
    if (e == EINPROGRESS || e == EINTR) return wait_connected(io, d, ec);
    if (e == EAGAIN && addr.is_unix()) {
      if (!backoff(delay, milliseconds{64}, d, ec)) return false;
      continue;
    }
    ec.assign(e, std::generic_category());
    return false;
  }
}

OwnedFd accept_io(Io& io, SocketAddress& peer, Deadline d, std::error_code& ec) noexcept {
  milliseconds delay{1};
  for (;;) {
    sockaddr_storage ss;
    socklen_t len = 0;
    int fd = io.read_with(
        [&](OwnedFd& l) noexcept {
          len = sizeof ss;
          return ::accept4(l.native_handle(), reinterpret_cast<sockaddr*>(&ss), &len,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
        },
        ec, d);
    if (fd >= 0) {
      len = std::min(len, SocketAddress::capacity());
      peer = SocketAddress::from_native(reinterpret_cast<sockaddr*>(&ss), len);
      return OwnedFd(fd);
    }
    if (ec.category() != std::generic_category()) return OwnedFd();
    switch (ec.value()) {
      case ECONNABORTED:
        continue;  // the peer gave up before we took it: take the next one
      case EMFILE:
      case ENFILE:
        if (!backoff(delay, milliseconds{100}, d, ec)) return OwnedFd();
        continue;
      default:
        return OwnedFd();
    }
  }
}

}  // namespace weft::net::detail
