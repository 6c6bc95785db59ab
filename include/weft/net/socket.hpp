// weft::net::Socket: what every weft::net socket shares. It owns the
// descriptor through Async<OwnedFd>, so the reactor does the waiting, and it
// is empty once closed or moved from: every call then fails with
// bad_file_descriptor instead of touching a stale descriptor number.
#pragma once

#include <optional>
#include <system_error>

#include <weft/async.hpp>
#include <weft/net/address.hpp>
#include <weft/net/expiry.hpp>

namespace weft::net {

// Shutdown says which half of a connection shutdown() closes.
enum class Shutdown { read, write, both };

// Socket is the base of TcpStream, TcpListener, UdpSocket and the Unix-domain
// types; it is not made on its own. Sockets are move-only. Like Async, a
// socket must not outlive the runtime it was first used in. One fiber at a
// time may wait per direction (reading, writing) on one socket; a second one
// gets device_or_resource_busy. To wake a fiber blocked on a socket from
// another fiber, use shutdown(), not close(): close() must not race with
// other calls on the same socket.
class Socket {
 public:
  Socket(Socket&&) noexcept = default;
  Socket& operator=(Socket&&) noexcept = default;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() = default;

  // is_open() is false for a default-made, moved-from or closed socket.
  bool is_open() const noexcept { return io_.has_value(); }
  explicit operator bool() const noexcept { return is_open(); }

  // native_handle() is the descriptor, or -1 once closed.
  int native_handle() const noexcept { return io_ ? io_->native_handle() : -1; }

  // close() unregisters and closes the descriptor; later calls fail with
  // bad_file_descriptor. Closing a closed socket is a no-op.
  void close() noexcept { io_.reset(); }

  // release() unregisters the descriptor and hands it over (still
  // non-blocking); the socket is closed afterwards.
  OwnedFd release() noexcept;

  // local_addr() is the address the socket is bound to (getsockname), for
  // instance the port the kernel chose for port 0.
  SocketAddress local_addr() const;
  SocketAddress local_addr(std::error_code& ec) const noexcept;

  // set_option()/get_option() set and read an int socket option
  // (setsockopt/getsockopt), for the options without a method of their own.
  void set_option(int level, int name, int value);
  bool set_option(int level, int name, int value, std::error_code& ec) noexcept;
  int get_option(int level, int name) const;
  int get_option(int level, int name, std::error_code& ec) const noexcept;

  // take_error() reads and clears the socket's pending error (SO_ERROR).
  std::error_code take_error() const noexcept;

 protected:
  Socket() noexcept = default;
  // Socket(fd) adopts a socket descriptor: it makes it non-blocking and, in a
  // fiber, registers it with the fiber's runtime (else with the runtime of the
  // first fiber that waits on it). An invalid fd makes a closed socket.
  // Throws std::system_error if the descriptor cannot be registered.
  explicit Socket(OwnedFd fd);

  // async() is the Async behind the socket, or null once closed.
  Async<OwnedFd>* async() noexcept { return io_ ? &*io_ : nullptr; }
  const Async<OwnedFd>* async() const noexcept { return io_ ? &*io_ : nullptr; }

 private:
  std::optional<Async<OwnedFd>> io_;  // empty: closed
};

}  // namespace weft::net
