// weft::Async<T>: blocking-looking I/O on any descriptor-owning object. A call
// tries the operation first; on EAGAIN the fiber parks until the reactor sees
// the descriptor ready (or the deadline passes), then retries.
#pragma once

#include <cerrno>
#include <cstdint>
#include <system_error>
#include <type_traits>
#include <utility>

#include <weft/deadline.hpp>

namespace weft {

class Runtime;

namespace detail {
class RuntimeCore;

// IoHandle is an Async's registration in a runtime's reactor; empty until the
// first wait inside a fiber when the Async was made outside one.
struct IoHandle {
  void* source = nullptr;
  RuntimeCore* rt = nullptr;
  std::uint32_t gen = 0;
};

// set_nonblocking() sets O_NONBLOCK (and close-on-exec stays as it is).
void set_nonblocking(int fd);
// io_attach() registers fd with the calling fiber's runtime; a no-op outside a
// fiber. Throws std::system_error (EPERM: regular files cannot be watched).
void io_attach(IoHandle& h, int fd);
// io_detach() unregisters; fibers parked on the descriptor wake (and retry).
void io_detach(IoHandle& h) noexcept;
// io_wait() waits until fd is ready for dir (0 read, 1 write): parks a fiber,
// or poll(2)s on a plain thread. False with ec = timed_out,
// operation_canceled, bad_file_descriptor or device_or_resource_busy (a
// second fiber waiting in the same direction).
// drained: wait before reading although no read failed with EAGAIN, because
// the last one emptied the descriptor (see Async::read_drained_with()).
bool io_wait(IoHandle& h, int fd, int dir, Deadline deadline, std::error_code& ec, bool drained = false) noexcept;
// last_errno() reads errno without letting the compiler reuse the address of
// another thread's errno after a fiber moved (glibc declares it const).
int last_errno() noexcept;
// throw_io_error() throws std::system_error(ec, what).
[[noreturn]] void throw_io_error(std::error_code ec, const char* what);
// clear() is ec.clear() for the success path of every I/O call: where ec
// holds no error already it leaves it be, saving clear()'s out-of-line call
// for the system category (a few calls per message on a busy socket).
inline void clear(std::error_code& ec) noexcept {
  if (ec) ec.clear();
}

template <class T>
concept HasNativeHandle = requires(const T& t) {
  { t.native_handle() } -> std::convertible_to<int>;
};
template <class T>
concept HasFd = requires(const T& t) {
  { t.fd() } -> std::convertible_to<int>;
};
}  // namespace detail

// fd_of() is the descriptor of t: t.native_handle(), or t.fd(), or a free
// function as_fd(t) found by argument-dependent lookup.
template <class T>
int fd_of(const T& t) {
  if constexpr (detail::HasNativeHandle<T>) {
    return t.native_handle();
  } else if constexpr (detail::HasFd<T>) {
    return t.fd();
  } else {
    return as_fd(t);
  }
}

// OwnedFd owns a file descriptor and closes it on destruction.
class OwnedFd {
 public:
  OwnedFd() noexcept = default;
  explicit OwnedFd(int fd) noexcept : fd_(fd) {}
  OwnedFd(OwnedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  ~OwnedFd() { reset(); }

  int native_handle() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  // release() gives the descriptor up without closing it.
  int release() noexcept { return std::exchange(fd_, -1); }
  // reset() closes the current descriptor and takes fd.
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// Async<T> wraps an object that owns a descriptor: it puts the descriptor in
// non-blocking mode and registers it with the runtime of the fiber that makes
// it (or of the first fiber that waits on it). Every waiting call comes in a
// throwing form (std::system_error) and a no-throw form (std::error_code&);
// expiry of the deadline is std::errc::timed_out, cancellation of the fiber
// std::errc::operation_canceled. One fiber at a time may wait per direction.
// An Async must not outlive its runtime.
template <class T>
class Async {
 public:
  explicit Async(T inner) : inner_(std::move(inner)) {
    detail::set_nonblocking(fd_of(inner_));
    detail::io_attach(io_, fd_of(inner_));
  }
  Async(Async&& o) noexcept : inner_(std::move(o.inner_)), io_(std::exchange(o.io_, detail::IoHandle{})) {}
  Async& operator=(Async&& o) noexcept {
    if (this != &o) {
      detail::io_detach(io_);
      inner_ = std::move(o.inner_);
      io_ = std::exchange(o.io_, detail::IoHandle{});
    }
    return *this;
  }
  Async(const Async&) = delete;
  Async& operator=(const Async&) = delete;
  ~Async() { detail::io_detach(io_); }

  const T& get_ref() const noexcept { return inner_; }
  T& get_mut() noexcept { return inner_; }
  // into_inner() unregisters and hands the object back (still non-blocking).
  T into_inner() && {
    detail::io_detach(io_);
    return std::move(inner_);
  }
  int native_handle() const { return fd_of(inner_); }

  // readable()/writable() wait until the descriptor is ready.
  bool readable(std::error_code& ec, Deadline d = no_deadline) noexcept { return wait(0, ec, d); }
  void readable(Deadline d = no_deadline) { check(readable_ec(d), "readable"); }
  bool writable(std::error_code& ec, Deadline d = no_deadline) noexcept { return wait(1, ec, d); }
  void writable(Deadline d = no_deadline) { check(writable_ec(d), "writable"); }

  // read_with(f) calls f(inner) until it does not fail with EAGAIN, waiting
  // for readability in between. f returns a signed integer; -1 with errno set
  // is a failure (EINTR retries at once). Returns f's result; the no-throw form
  // returns -1 and sets ec on failure.
  template <class F>
  auto read_with(F&& f, std::error_code& ec, Deadline d = no_deadline) {
    return loop(0, f, ec, d);
  }
  template <class F>
  auto read_with(F&& f, Deadline d = no_deadline) {
    std::error_code ec;
    auto r = loop(0, f, ec, d);
    check(ec, "read");
    return r;
  }
  // read_drained_with(f) is read_with(f) for when the previous read emptied
  // the descriptor (a stream read that returned less than it asked for): it
  // waits for readability first, saving the call that would fail with EAGAIN.
  // It does not wait when the reactor has seen the peer hang up (the read
  // then reports the end or the error). Only for descriptors where a short
  // read means empty: stream sockets, pipes.
  template <class F>
  auto read_drained_with(F&& f, std::error_code& ec, Deadline d = no_deadline) {
    if (!detail::io_wait(io_, fd_of(inner_), 0, d, ec, true)) return decltype(f(inner_))(-1);
    return loop(0, f, ec, d);
  }

  // write_with(f): the same, waiting for writability.
  template <class F>
  auto write_with(F&& f, std::error_code& ec, Deadline d = no_deadline) {
    return loop(1, f, ec, d);
  }
  template <class F>
  auto write_with(F&& f, Deadline d = no_deadline) {
    std::error_code ec;
    auto r = loop(1, f, ec, d);
    check(ec, "write");
    return r;
  }

 private:
  bool wait(int dir, std::error_code& ec, Deadline d) noexcept {
    return detail::io_wait(io_, fd_of(inner_), dir, d, ec);
  }
  std::error_code readable_ec(Deadline d) noexcept {
    std::error_code ec;
    wait(0, ec, d);
    return ec;
  }
  std::error_code writable_ec(Deadline d) noexcept {
    std::error_code ec;
    wait(1, ec, d);
    return ec;
  }
  static void check(const std::error_code& ec, const char* what) {
    if (ec) detail::throw_io_error(ec, what);
  }

  template <class F>
  auto loop(int dir, F& f, std::error_code& ec, Deadline d) -> decltype(f(std::declval<T&>())) {
    for (;;) {
      auto r = f(inner_);
      if (r >= 0) {
        detail::clear(ec);
        return r;
      }
      // Read errno here, before anything can park (see last_errno()).
      int e = detail::last_errno();
      if (e == EINTR) continue;
      if (e != EAGAIN && e != EWOULDBLOCK) {
        ec.assign(e, std::generic_category());
        return r;
      }
      if (!detail::io_wait(io_, fd_of(inner_), dir, d, ec)) return r;
    }
  }

  T inner_;
  detail::IoHandle io_;
};

}  // namespace weft
