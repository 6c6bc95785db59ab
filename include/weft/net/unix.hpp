// weft::net::UnixListener, UnixStream and UnixDatagram: Unix-domain sockets,
// at a filesystem path or (Linux) in the abstract namespace.
#pragma once

#include <string_view>
#include <system_error>
#include <utility>

#include <weft/net/address.hpp>
#include <weft/net/datagram.hpp>
#include <weft/net/expiry.hpp>
#include <weft/net/stream.hpp>
#include <weft/net/tcp.hpp>

namespace weft::net {

// UnixStream is a connected Unix-domain stream socket; see StreamSocket for
// reading and writing.
class UnixStream : public StreamSocket {
 public:
  // A default UnixStream is closed.
  UnixStream() noexcept = default;
  // UnixStream(fd) adopts a connected Unix stream socket descriptor.
  explicit UnixStream(OwnedFd fd) : StreamSocket(std::move(fd)) {}

  // connect() connects to the listener at addr (or at a filesystem path).
  // When the listener's backlog is full the kernel offers no readiness to
  // wait for, so connect() retries after 1 ms, doubling to 64 ms, until the
  // Expiry passes.
  static UnixStream connect(const SocketAddress& addr, Expiry e = {});
  static UnixStream connect(const SocketAddress& addr, std::error_code& ec, Expiry e = {}) noexcept;
  static UnixStream connect(std::string_view path, Expiry e = {});
  static UnixStream connect(std::string_view path, std::error_code& ec, Expiry e = {}) noexcept;

  // pair() is two streams connected to each other (socketpair).
  static std::pair<UnixStream, UnixStream> pair();
  static std::pair<UnixStream, UnixStream> pair(std::error_code& ec) noexcept;
};

// UnixListener is a listening Unix-domain stream socket. It does not remove
// its path on close: unlink it yourself (or use an abstract address).
class UnixListener : public Socket {
 public:
  // Accepted is a new connection and the address of its peer (usually
  // unnamed).
  struct Accepted {
    UnixStream stream;
    SocketAddress peer;
  };

  // A default UnixListener is closed.
  UnixListener() noexcept = default;
  // UnixListener(fd) adopts a listening Unix socket descriptor.
  explicit UnixListener(OwnedFd fd) : Socket(std::move(fd)) {}

  // bind() makes a socket listening at addr (or at a filesystem path, which
  // must not exist yet). Only opts.backlog applies.
  static UnixListener bind(const SocketAddress& addr, const ListenOptions& opts = {});
  static UnixListener bind(const SocketAddress& addr, const ListenOptions& opts, std::error_code& ec) noexcept;
  static UnixListener bind(std::string_view path, const ListenOptions& opts = {});
  static UnixListener bind(std::string_view path, const ListenOptions& opts, std::error_code& ec) noexcept;

  // accept() waits for the next connection, with the same descriptor
  // exhaustion backoff as TcpListener::accept().
  Accepted accept(Expiry e = {});
  Accepted accept(std::error_code& ec, Expiry e = {}) noexcept;
};

// UnixDatagram is a Unix-domain datagram socket; see DatagramSocket.
class UnixDatagram : public DatagramSocket {
 public:
  // A default UnixDatagram is closed.
  UnixDatagram() noexcept = default;
  // UnixDatagram(fd) adopts a Unix datagram socket descriptor.
  explicit UnixDatagram(OwnedFd fd) : DatagramSocket(std::move(fd)) {}

  // bind() makes a socket bound to addr (or a filesystem path).
  static UnixDatagram bind(const SocketAddress& addr);
  static UnixDatagram bind(const SocketAddress& addr, std::error_code& ec) noexcept;
  static UnixDatagram bind(std::string_view path);
  static UnixDatagram bind(std::string_view path, std::error_code& ec) noexcept;

  // unbound() is a socket with no address: it can send_to() others, and
  // connect(), but nobody can send to it by name.
  static UnixDatagram unbound();
  static UnixDatagram unbound(std::error_code& ec) noexcept;

  // pair() is two datagram sockets connected to each other (socketpair).
  static std::pair<UnixDatagram, UnixDatagram> pair();
  static std::pair<UnixDatagram, UnixDatagram> pair(std::error_code& ec) noexcept;
};

}  // namespace weft::net
