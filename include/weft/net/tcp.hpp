// weft::net::TcpListener and TcpStream: TCP over IPv4 and IPv6.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>
#include <system_error>

#include <weft/net/address.hpp>
#include <weft/net/expiry.hpp>
#include <weft/net/socket.hpp>
#include <weft/net/stream.hpp>

namespace weft::net {

// ListenOptions tunes TcpListener::bind() and UnixListener::bind().
struct ListenOptions {
  // backlog is the length of the queue of connections not yet accepted;
  // the kernel caps it at net.core.somaxconn.
  int backlog = 1024;
  // reuse_port sets SO_REUSEPORT: several listeners on one port, the kernel
  // spreading connections among them (TCP only).
  bool reuse_port = false;
  // reuse_address sets SO_REUSEADDR, so a restarted server can bind its port
  // while old connections linger in TIME_WAIT (TCP only).
  bool reuse_address = true;
};

// TcpStream is a connected TCP socket; see StreamSocket for reading and
// writing. It is made by connect() or by TcpListener::accept().
class TcpStream : public StreamSocket {
 public:
  // A default TcpStream is closed.
  TcpStream() noexcept = default;
  // TcpStream(fd) adopts a connected TCP socket descriptor (see Socket).
  explicit TcpStream(OwnedFd fd) : StreamSocket(std::move(fd)) {}

  // connect() opens a connection to addr: a non-blocking connect() that parks
  // until the handshake ends. Failures are the kernel's (ECONNREFUSED,
  // ENETUNREACH, ...) or timed_out when the Expiry passes first.
  static TcpStream connect(const SocketAddress& addr, Expiry e = {});
  static TcpStream connect(const SocketAddress& addr, std::error_code& ec, Expiry e = {}) noexcept;
  // connect("host:port") takes a numeric address as is and resolves a name
  // (see resolve()), then tries each address in turn within the one Expiry;
  // the error is the last address's.
  static TcpStream connect(std::string_view host_port, Expiry e = {});
  static TcpStream connect(std::string_view host_port, std::error_code& ec, Expiry e = {}) noexcept;

  // set_nodelay() turns Nagle's algorithm off (TCP_NODELAY): small writes go
  // out at once instead of waiting to be merged.
  void set_nodelay(bool on);
  bool set_nodelay(bool on, std::error_code& ec) noexcept;
  bool nodelay() const;

  // set_keepalive() turns TCP keepalive probes on (SO_KEEPALIVE), so a dead
  // peer is noticed on an idle connection (after the kernel's tcp_keepalive_*).
  void set_keepalive(bool on);
  bool set_keepalive(bool on, std::error_code& ec) noexcept;
  bool keepalive() const;

  // set_linger() sets SO_LINGER. std::chrono::seconds{0} makes close() reset
  // the connection (RST) instead of a graceful close; nullopt restores the
  // default (close at once, send what is queued in the background).
  void set_linger(std::optional<std::chrono::seconds> linger);
  bool set_linger(std::optional<std::chrono::seconds> linger, std::error_code& ec) noexcept;
};

// TcpListener is a listening TCP socket.
class TcpListener : public Socket {
 public:
  // Accepted is a new connection and the address of its peer.
  struct Accepted {
    TcpStream stream;
    SocketAddress peer;
  };

  // A default TcpListener is closed.
  TcpListener() noexcept = default;
  // TcpListener(fd) adopts a listening TCP socket descriptor (see Socket).
  explicit TcpListener(OwnedFd fd) : Socket(std::move(fd)) {}

  // bind() makes a socket listening on addr; port 0 lets the kernel choose
  // (read it back with local_addr()). Binding [::] accepts IPv4 too, unless
  // net.ipv6.bindv6only says otherwise.
  static TcpListener bind(const SocketAddress& addr, const ListenOptions& opts = {});
  static TcpListener bind(const SocketAddress& addr, const ListenOptions& opts, std::error_code& ec) noexcept;
  // bind("host:port") takes a numeric address as is and resolves a name
  // (an empty host is the wildcard), binding the first address that works.
  static TcpListener bind(std::string_view host_port, const ListenOptions& opts = {});
  static TcpListener bind(std::string_view host_port, const ListenOptions& opts, std::error_code& ec) noexcept;

  // accept() waits for the next connection (accept4: the new socket is
  // non-blocking and close-on-exec). When the process or the system runs out
  // of descriptors (EMFILE, ENFILE) it does not spin: it sleeps 1 ms,
  // doubling to 100 ms, and retries until descriptors free up or the Expiry
  // passes (then timed_out). A connection aborted before it was accepted
  // (ECONNABORTED) is skipped. Other errors return at once.
  Accepted accept(Expiry e = {});
  Accepted accept(std::error_code& ec, Expiry e = {}) noexcept;
};

}  // namespace weft::net
