// UnixStream, UnixListener and UnixDatagram: setup; the waiting is in
// handshake.cpp, stream.cpp and datagram.cpp.
#include <weft/net/unix.hpp>

#include <stdexcept>

#include "ops.hpp"

namespace weft::net {

using detail::fail;

namespace {

bool is_unix(const SocketAddress& a, std::error_code& ec) noexcept {
  if (a.is_unix()) return true;
  ec = std::make_error_code(std::errc::address_family_not_supported);
  return false;
}

// path_address() is unix_path(path), with a bad path reported in ec.
bool path_address(std::string_view path, SocketAddress& out, std::error_code& ec) noexcept {
  try {
    out = SocketAddress::unix_path(path);
    return true;
  } catch (const std::invalid_argument&) {
    ec = std::make_error_code(path.empty() ? std::errc::invalid_argument : std::errc::filename_too_long);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return false;
}

template <class S>
std::pair<S, S> socket_pair(int type, std::error_code& ec) noexcept {
  int fds[2];
  if (::socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    ec = detail::errno_code();
    return {};
  }
  OwnedFd a(fds[0]), b(fds[1]);
  S sa = detail::adopt<S>(std::move(a), ec);
  if (ec) return {};
  S sb = detail::adopt<S>(std::move(b), ec);
  if (ec) return {};
  return {std::move(sa), std::move(sb)};
}

}  // namespace

UnixStream UnixStream::connect(const SocketAddress& addr, std::error_code& ec, Expiry e) noexcept {
  if (!is_unix(addr, ec)) return {};
  OwnedFd fd = detail::open_socket(AF_UNIX, SOCK_STREAM, ec);
  if (ec) return {};
  UnixStream s = detail::adopt<UnixStream>(std::move(fd), ec);
  if (ec) return {};
  if (!detail::connect_io(*s.async(), addr, e.deadline(), ec)) return {};
  return s;
}

UnixStream UnixStream::connect(const SocketAddress& addr, Expiry e) {
  std::error_code ec;
  UnixStream s = connect(addr, ec, e);
  if (ec) fail(ec, ("connect to " + addr.to_string()).c_str());
  return s;
}

UnixStream UnixStream::connect(std::string_view path, std::error_code& ec, Expiry e) noexcept {
  SocketAddress a;
  if (!path_address(path, a, ec)) return {};
  return connect(a, ec, e);
}

UnixStream UnixStream::connect(std::string_view path, Expiry e) { return connect(SocketAddress::unix_path(path), e); }

std::pair<UnixStream, UnixStream> UnixStream::pair(std::error_code& ec) noexcept {
  return socket_pair<UnixStream>(SOCK_STREAM, ec);
}

std::pair<UnixStream, UnixStream> UnixStream::pair() {
  std::error_code ec;
  auto p = pair(ec);
  if (ec) fail(ec, "socketpair");
  return p;
}

UnixListener UnixListener::bind(const SocketAddress& addr, const ListenOptions& opts, std::error_code& ec) noexcept {
  if (!is_unix(addr, ec)) return {};
  OwnedFd fd = detail::open_socket(AF_UNIX, SOCK_STREAM, ec);
  if (ec) return {};
  if (!detail::bind_listen(fd.native_handle(), addr, opts.backlog, ec)) return {};
  return detail::adopt<UnixListener>(std::move(fd), ec);
}

UnixListener UnixListener::bind(const SocketAddress& addr, const ListenOptions& opts) {
  std::error_code ec;
  UnixListener l = bind(addr, opts, ec);
  if (ec) fail(ec, ("bind " + addr.to_string()).c_str());
  return l;
}

UnixListener UnixListener::bind(std::string_view path, const ListenOptions& opts, std::error_code& ec) noexcept {
  SocketAddress a;
  if (!path_address(path, a, ec)) return {};
  return bind(a, opts, ec);
}

UnixListener UnixListener::bind(std::string_view path, const ListenOptions& opts) {
  return bind(SocketAddress::unix_path(path), opts);
}

UnixListener::Accepted UnixListener::accept(std::error_code& ec, Expiry e) noexcept {
  auto* io = async();
  if (!io) {
    ec = detail::closed();
    return {};
  }
  SocketAddress peer;
  OwnedFd fd = detail::accept_io(*io, peer, e.deadline(), ec);
  if (!fd) return {};
  UnixStream s = detail::adopt<UnixStream>(std::move(fd), ec);
  if (ec) return {};
  return Accepted{std::move(s), peer};
}

UnixListener::Accepted UnixListener::accept(Expiry e) {
  std::error_code ec;
  Accepted a = accept(ec, e);
  if (ec) fail(ec, "accept");
  return a;
}

UnixDatagram UnixDatagram::bind(const SocketAddress& addr, std::error_code& ec) noexcept {
  if (!is_unix(addr, ec)) return {};
  OwnedFd fd = detail::open_socket(AF_UNIX, SOCK_DGRAM, ec);
  if (ec) return {};
  if (!detail::bind_listen(fd.native_handle(), addr, -1, ec)) return {};
  return detail::adopt<UnixDatagram>(std::move(fd), ec);
}

UnixDatagram UnixDatagram::bind(const SocketAddress& addr) {
  std::error_code ec;
  UnixDatagram s = bind(addr, ec);
  if (ec) fail(ec, ("bind " + addr.to_string()).c_str());
  return s;
}

UnixDatagram UnixDatagram::bind(std::string_view path, std::error_code& ec) noexcept {
  SocketAddress a;
  if (!path_address(path, a, ec)) return {};
  return bind(a, ec);
}

UnixDatagram UnixDatagram::bind(std::string_view path) { return bind(SocketAddress::unix_path(path)); }

UnixDatagram UnixDatagram::unbound(std::error_code& ec) noexcept {
  OwnedFd fd = detail::open_socket(AF_UNIX, SOCK_DGRAM, ec);
  if (ec) return {};
  return detail::adopt<UnixDatagram>(std::move(fd), ec);
}

UnixDatagram UnixDatagram::unbound() {
  std::error_code ec;
  UnixDatagram s = unbound(ec);
  if (ec) fail(ec, "socket");
  return s;
}

std::pair<UnixDatagram, UnixDatagram> UnixDatagram::pair(std::error_code& ec) noexcept {
  return socket_pair<UnixDatagram>(SOCK_DGRAM, ec);
}

std::pair<UnixDatagram, UnixDatagram> UnixDatagram::pair() {
  std::error_code ec;
  auto p = pair(ec);
  if (ec) fail(ec, "socketpair");
  return p;
}

}  // namespace weft::net
