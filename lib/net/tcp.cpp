// TcpStream and TcpListener: socket setup and options; the waiting is in
// handshake.cpp (connect, accept) and stream.cpp (reads and writes).
#include <weft/net/tcp.hpp>

#include <netinet/tcp.h>

#include "ops.hpp"

namespace weft::net {

using detail::closed;
using detail::fail;

namespace {

bool is_ip(const SocketAddress& a, std::error_code& ec) noexcept {
  if (a.is_ipv4() || a.is_ipv6()) return true;
  ec = std::make_error_code(std::errc::address_family_not_supported);
  return false;
}

// stops_trying() is true for the errors after which no other address of a
// name is worth a try: the caller's deadline or cancellation.
bool stops_trying(const std::error_code& ec) noexcept {
  return ec == std::errc::timed_out || ec == std::errc::operation_canceled;
}

}  // namespace

TcpStream TcpStream::connect(const SocketAddress& addr, std::error_code& ec, Expiry e) noexcept {
  if (!is_ip(addr, ec)) return {};
  OwnedFd fd = detail::open_socket(addr.data()->sa_family, SOCK_STREAM, ec);
  if (ec) return {};
  TcpStream s = detail::adopt<TcpStream>(std::move(fd), ec);
  if (ec) return {};
  if (!detail::connect_io(*s.async(), addr, e.deadline(), ec)) return {};
  return s;
}

TcpStream TcpStream::connect(const SocketAddress& addr, Expiry e) {
  std::error_code ec;
  TcpStream s = connect(addr, ec, e);
  if (ec) detail::fail(ec, ("connect to " + addr.to_string()).c_str());
  return s;
}

TcpStream TcpStream::connect(std::string_view host_port, std::error_code& ec, Expiry e) noexcept {
  std::vector<SocketAddress> addrs = detail::addresses_of(host_port, ec, e);
  for (const SocketAddress& a : addrs) {
    TcpStream s = connect(a, ec, e);
    if (!ec) return s;
    if (stops_trying(ec)) break;
  }
  return {};
}

TcpStream TcpStream::connect(std::string_view host_port, Expiry e) {
  std::error_code ec;
  TcpStream s = connect(host_port, ec, e);
  if (ec) detail::fail(ec, ("connect to " + std::string(host_port)).c_str());
  return s;
}

bool TcpStream::set_nodelay(bool on, std::error_code& ec) noexcept {
  return set_option(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0, ec);
}

void TcpStream::set_nodelay(bool on) { set_option(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0); }

bool TcpStream::nodelay() const { return get_option(IPPROTO_TCP, TCP_NODELAY) != 0; }

bool TcpStream::set_keepalive(bool on, std::error_code& ec) noexcept {
  return set_option(SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0, ec);
}

void TcpStream::set_keepalive(bool on) { set_option(SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0); }

bool TcpStream::keepalive() const { return get_option(SOL_SOCKET, SO_KEEPALIVE) != 0; }

bool TcpStream::set_linger(std::optional<std::chrono::seconds> linger, std::error_code& ec) noexcept {
  if (!is_open()) {
    ec = closed();
    return false;
  }
  ::linger l{};
  l.l_onoff = linger.has_value();
  l.l_linger = linger ? static_cast<int>(linger->count()) : 0;
  if (::setsockopt(native_handle(), SOL_SOCKET, SO_LINGER, &l, sizeof l) != 0) {
    ec = detail::errno_code();
    return false;
  }
  ec.clear();
  return true;
}

void TcpStream::set_linger(std::optional<std::chrono::seconds> linger) {
  std::error_code ec;
  if (!set_linger(linger, ec)) fail(ec, "set_linger");
}

TcpListener TcpListener::bind(const SocketAddress& addr, const ListenOptions& opts, std::error_code& ec) noexcept {
  if (!is_ip(addr, ec)) return {};
  OwnedFd fd = detail::open_socket(addr.data()->sa_family, SOCK_STREAM, ec);
  if (ec) return {};
  const int s = fd.native_handle();
  if (opts.reuse_address && !detail::set_int_option(s, SOL_SOCKET, SO_REUSEADDR, 1, ec)) return {};
  if (opts.reuse_port && !detail::set_int_option(s, SOL_SOCKET, SO_REUSEPORT, 1, ec)) return {};
  if (!detail::bind_listen(s, addr, opts.backlog, ec)) return {};
  return detail::adopt<TcpListener>(std::move(fd), ec);
}

TcpListener TcpListener::bind(const SocketAddress& addr, const ListenOptions& opts) {
  std::error_code ec;
  TcpListener l = bind(addr, opts, ec);
  if (ec) fail(ec, ("bind " + addr.to_string()).c_str());
  return l;
}

TcpListener TcpListener::bind(std::string_view host_port, const ListenOptions& opts, std::error_code& ec) noexcept {
  std::vector<SocketAddress> addrs = detail::addresses_of(host_port, ec);
  for (const SocketAddress& a : addrs) {
    TcpListener l = bind(a, opts, ec);
    if (!ec) return l;
  }
  return {};
}

TcpListener TcpListener::bind(std::string_view host_port, const ListenOptions& opts) {
  std::error_code ec;
  TcpListener l = bind(host_port, opts, ec);
  if (ec) fail(ec, ("bind " + std::string(host_port)).c_str());
  return l;
}

TcpListener::Accepted TcpListener::accept(std::error_code& ec, Expiry e) noexcept {
  auto* io = async();
  if (!io) {
    ec = closed();
    return {};
  }
  SocketAddress peer;
  OwnedFd fd = detail::accept_io(*io, peer, e.deadline(), ec);
  if (!fd) return {};
  TcpStream s = detail::adopt<TcpStream>(std::move(fd), ec);
  if (ec) return {};
  return Accepted{std::move(s), peer};
}

TcpListener::Accepted TcpListener::accept(Expiry e) {
  std::error_code ec;
  Accepted a = accept(ec, e);
  if (ec) fail(ec, "accept");
  return a;
}

}  // namespace weft::net
