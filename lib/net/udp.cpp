// UdpSocket: setup; sending and receiving are DatagramSocket's.
#include <weft/net/udp.hpp>

#include "ops.hpp"

namespace weft::net {

UdpSocket UdpSocket::bind(const SocketAddress& addr, std::error_code& ec) noexcept {
  if (!addr.is_ipv4() && !addr.is_ipv6()) {
    ec = std::make_error_code(std::errc::address_family_not_supported);
    return {};
  }
  OwnedFd fd = detail::open_socket(addr.data()->sa_family, SOCK_DGRAM, ec);
  if (ec) return {};
  if (!detail::bind_listen(fd.native_handle(), addr, -1, ec)) return {};
  return detail::adopt<UdpSocket>(std::move(fd), ec);
}

UdpSocket UdpSocket::bind(const SocketAddress& addr) {
  std::error_code ec;
  UdpSocket s = bind(addr, ec);
  if (ec) detail::fail(ec, ("bind " + addr.to_string()).c_str());
  return s;
}

UdpSocket UdpSocket::bind(std::string_view host_port, std::error_code& ec) noexcept {
  std::vector<SocketAddress> addrs = detail::addresses_of(host_port, ec);
  for (const SocketAddress& a : addrs) {
    UdpSocket s = bind(a, ec);
    if (!ec) return s;
  }
  return {};
}

UdpSocket UdpSocket::bind(std::string_view host_port) {
  std::error_code ec;
  UdpSocket s = bind(host_port, ec);
  if (ec) detail::fail(ec, ("bind " + std::string(host_port)).c_str());
  return s;
}

bool UdpSocket::set_broadcast(bool on, std::error_code& ec) noexcept {
  return set_option(SOL_SOCKET, SO_BROADCAST, on ? 1 : 0, ec);
}

void UdpSocket::set_broadcast(bool on) { set_option(SOL_SOCKET, SO_BROADCAST, on ? 1 : 0); }

}  // namespace weft::net
