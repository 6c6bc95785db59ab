// Socket and the shared operations of ops.hpp that do not wait.
#include <weft/errors.hpp>
#include <weft/net/socket.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <string>

#include <weft/net/resolve.hpp>

#include "ops.hpp"

namespace weft::net {

namespace detail {

void fail(std::error_code ec, const char* what) {
  // Cancellation is reported the same way everywhere: weft::Cancelled.
  if (ec == std::errc::operation_canceled) throw Cancelled();
  throw std::system_error(ec, std::string("weft::net: ") + what);
}

OwnedFd open_socket(int family, int type, std::error_code& ec) noexcept {
  int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ec = errno_code();
    return OwnedFd();
  }
  ec.clear();
  return OwnedFd(fd);
}

bool set_int_option(int fd, int level, int name, int value, std::error_code& ec) noexcept {
  if (fd < 0) {
    ec = closed();
    return false;
  }
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) {
    ec = errno_code();
    return false;
  }
  ec.clear();
  return true;
}

bool bind_listen(int fd, const SocketAddress& addr, int backlog, std::error_code& ec) noexcept {
  if (::bind(fd, addr.data(), addr.size()) != 0 || (backlog >= 0 && ::listen(fd, backlog) != 0)) {
    ec = errno_code();
    return false;
  }
  ec.clear();
  return true;
}

SocketAddress name_of(int fd, bool peer, std::error_code& ec) noexcept {
  if (fd < 0) {
    ec = closed();
    return {};
  }
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  if ((peer ? ::getpeername(fd, sa, &len) : ::getsockname(fd, sa, &len)) != 0) {
    ec = errno_code();
    return {};
  }
  ec.clear();
  return SocketAddress::from_native(sa, std::min(len, SocketAddress::capacity()));
}

std::vector<SocketAddress> addresses_of(std::string_view host_port, std::error_code& ec,
                                        Expiry e) noexcept {
  try {
    if (auto a = SocketAddress::try_parse(host_port)) {
      ec.clear();
      return {*a};
    }
    std::string_view host, port;
    if (!split_host_port(host_port, host, port)) {
      ec = std::make_error_code(std::errc::invalid_argument);
      return {};
    }
    return resolve(host, port, ec, e);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
}

}  // namespace detail

Socket::Socket(OwnedFd fd) {
  if (fd) io_.emplace(std::move(fd));
}

OwnedFd Socket::release() noexcept {
  if (!io_) return OwnedFd();
  OwnedFd fd = std::move(*io_).into_inner();
  io_.reset();
  return fd;
}

SocketAddress Socket::local_addr(std::error_code& ec) const noexcept {
  return detail::name_of(native_handle(), false, ec);
}

SocketAddress Socket::local_addr() const {
  std::error_code ec;
  auto a = local_addr(ec);
  if (ec) detail::fail(ec, "local_addr");
  return a;
}

bool Socket::set_option(int level, int name, int value, std::error_code& ec) noexcept {
  return detail::set_int_option(native_handle(), level, name, value, ec);
}

void Socket::set_option(int level, int name, int value) {
  std::error_code ec;
  if (!set_option(level, name, value, ec)) detail::fail(ec, "setsockopt");
}

int Socket::get_option(int level, int name, std::error_code& ec) const noexcept {
  if (!io_) {
    ec = detail::closed();
    return 0;
  }
  int v = 0;
  socklen_t len = sizeof v;
  if (::getsockopt(native_handle(), level, name, &v, &len) != 0) {
    ec = detail::errno_code();
    return 0;
  }
  ec.clear();
  return v;
}

int Socket::get_option(int level, int name) const {
  std::error_code ec;
  int v = get_option(level, name, ec);
  if (ec) detail::fail(ec, "getsockopt");
  return v;
}

std::error_code Socket::take_error() const noexcept {
  std::error_code ec;
  int e = get_option(SOL_SOCKET, SO_ERROR, ec);
  if (ec) return ec;
  return e ? std::error_code(e, std::generic_category()) : std::error_code();
}

}  // namespace weft::net
