// DatagramSocket: one message per call. Unlike streams, an empty message is a
// message, so zero-length sends and receives go to the kernel.
#include <weft/net/datagram.hpp>

#include <algorithm>

#include "ops.hpp"
#include "sys.hpp"

namespace weft::net {

using detail::closed;
using detail::fail;

namespace {
std::size_t as_size(ssize_t r) noexcept { return r < 0 ? 0 : static_cast<std::size_t>(r); }
}  // namespace

bool DatagramSocket::connect(const SocketAddress& peer, std::error_code& ec) noexcept {
  if (!is_open()) {
    ec = closed();
    return false;
  }
  if (::connect(native_handle(), peer.data(), peer.size()) != 0) {
    ec = detail::errno_code();
    return false;
  }
  ec.clear();
  return true;
}

void DatagramSocket::connect(const SocketAddress& peer) {
  std::error_code ec;
  if (!connect(peer, ec)) fail(ec, "connect");
}

std::size_t DatagramSocket::send(const void* buf, std::size_t n, std::error_code& ec, Expiry e) noexcept {
  auto* io = async();
  if (!io) {
    ec = closed();
    return 0;
  }
  return as_size(io->write_with(
      [&](OwnedFd& s) noexcept { return sys::send(s.native_handle(), buf, n, MSG_NOSIGNAL); }, ec, e.deadline()));
}

std::size_t DatagramSocket::send(const void* buf, std::size_t n, Expiry e) {
  std::error_code ec;
  std::size_t r = send(buf, n, ec, e);
  if (ec) fail(ec, "send");
  return r;
}

std::size_t DatagramSocket::recv(void* buf, std::size_t n, std::error_code& ec, Expiry e) noexcept {
  auto* io = async();
  if (!io) {
    ec = closed();
    return 0;
  }
  return as_size(
      io->read_with([&](OwnedFd& s) noexcept { return sys::recv(s.native_handle(), buf, n, 0); }, ec, e.deadline()));
}

std::size_t DatagramSocket::recv(void* buf, std::size_t n, Expiry e) {
  std::error_code ec;
  std::size_t r = recv(buf, n, ec, e);
  if (ec) fail(ec, "recv");
  return r;
}

std::size_t DatagramSocket::send_to(const void* buf, std::size_t n, const SocketAddress& to, std::error_code& ec,
                                    Expiry e) noexcept {
  auto* io = async();
  if (!io) {
    ec = closed();
    return 0;
  }
  return as_size(io->write_with(
      [&](OwnedFd& s) noexcept { return sys::sendto(s.native_handle(), buf, n, MSG_NOSIGNAL, to.data(), to.size()); },
      ec, e.deadline()));
}

std::size_t DatagramSocket::send_to(const void* buf, std::size_t n, const SocketAddress& to, Expiry e) {
  std::error_code ec;
  std::size_t r = send_to(buf, n, to, ec, e);
  if (ec) fail(ec, "send_to");
  return r;
}

Received DatagramSocket::recv_from(void* buf, std::size_t n, std::error_code& ec, Expiry e) noexcept {
  auto* io = async();
  if (!io) {
    ec = closed();
    return {};
  }
  sockaddr_storage ss;
  socklen_t len = 0;
  ssize_t r = io->read_with(
      [&](OwnedFd& s) noexcept {
        len = sizeof ss;
        return sys::recvfrom(s.native_handle(), buf, n, 0, reinterpret_cast<sockaddr*>(&ss), &len);
      },
      ec, e.deadline());
  if (r < 0) return {};
  return Received{static_cast<std::size_t>(r),
                  SocketAddress::from_native(reinterpret_cast<sockaddr*>(&ss), std::min(len, SocketAddress::capacity()))};
}

Received DatagramSocket::recv_from(void* buf, std::size_t n, Expiry e) {
  std::error_code ec;
  Received r = recv_from(buf, n, ec, e);
  if (ec) fail(ec, "recv_from");
  return r;
}

SocketAddress DatagramSocket::peer_addr(std::error_code& ec) const noexcept {
  return detail::name_of(native_handle(), true, ec);
}

SocketAddress DatagramSocket::peer_addr() const {
  std::error_code ec;
  auto a = peer_addr(ec);
  if (ec) fail(ec, "peer_addr");
  return a;
}

}  // namespace weft::net
