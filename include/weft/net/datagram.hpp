// weft::net::DatagramSocket: sending and receiving whole messages, the API
// that UdpSocket and UnixDatagram share.
#pragma once

#include <cstddef>
#include <system_error>

#include <weft/net/socket.hpp>

namespace weft::net {

// Received is what recv_from() got: the message size and its sender.
struct Received {
  std::size_t size = 0;
  SocketAddress from;
};

// DatagramSocket holds the calls of a message socket. Waiting calls come in a
// throwing and a std::error_code& form and take an Expiry, as in
// StreamSocket. Each send is one message (empty messages are sent too); each
// receive takes one message, and the part that does not fit in the buffer is
// dropped.
class DatagramSocket : public Socket {
 public:
  // connect() sets the peer for send() and recv() and filters what arrives
  // to that peer. It never waits.
  void connect(const SocketAddress& peer);
  bool connect(const SocketAddress& peer, std::error_code& ec) noexcept;

  // send() sends one message to the connected peer.
  std::size_t send(const void* buf, std::size_t n, Expiry e = {});
  std::size_t send(const void* buf, std::size_t n, std::error_code& ec, Expiry e = {}) noexcept;

  // recv() receives one message from the connected peer (or anyone if none).
  std::size_t recv(void* buf, std::size_t n, Expiry e = {});
  std::size_t recv(void* buf, std::size_t n, std::error_code& ec, Expiry e = {}) noexcept;

  // send_to() sends one message to to.
  std::size_t send_to(const void* buf, std::size_t n, const SocketAddress& to, Expiry e = {});
  std::size_t send_to(const void* buf, std::size_t n, const SocketAddress& to, std::error_code& ec,
                      Expiry e = {}) noexcept;

  // recv_from() receives one message and tells who sent it.
  Received recv_from(void* buf, std::size_t n, Expiry e = {});
  Received recv_from(void* buf, std::size_t n, std::error_code& ec, Expiry e = {}) noexcept;

  // peer_addr() is the connected peer (ENOTCONN if none).
  SocketAddress peer_addr() const;
  SocketAddress peer_addr(std::error_code& ec) const noexcept;

 protected:
  DatagramSocket() noexcept = default;
  explicit DatagramSocket(OwnedFd fd) : Socket(std::move(fd)) {}
};

}  // namespace weft::net
