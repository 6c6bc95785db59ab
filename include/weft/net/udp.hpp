// weft::net::UdpSocket: UDP over IPv4 and IPv6.
#pragma once

#include <string_view>
#include <system_error>

#include <weft/net/address.hpp>
#include <weft/net/datagram.hpp>

namespace weft::net {

// UdpSocket is a UDP socket; see DatagramSocket for sending and receiving.
class UdpSocket : public DatagramSocket {
 public:
  // A default UdpSocket is closed.
  UdpSocket() noexcept = default;
  // UdpSocket(fd) adopts a UDP socket descriptor (see Socket).
  explicit UdpSocket(OwnedFd fd) : DatagramSocket(std::move(fd)) {}

  // bind() makes a socket bound to addr (port 0: the kernel chooses).
  static UdpSocket bind(const SocketAddress& addr);
  static UdpSocket bind(const SocketAddress& addr, std::error_code& ec) noexcept;
  // bind("host:port") takes a numeric address as is and resolves a name.
  static UdpSocket bind(std::string_view host_port);
  static UdpSocket bind(std::string_view host_port, std::error_code& ec) noexcept;

  // set_broadcast() allows sending to broadcast addresses (SO_BROADCAST).
  void set_broadcast(bool on);
  bool set_broadcast(bool on, std::error_code& ec) noexcept;
};

}  // namespace weft::net
