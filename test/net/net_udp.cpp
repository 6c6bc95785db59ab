// UdpSocket: bind, send_to/recv_from, connect with send/recv, deadlines,
// empty and truncated datagrams, addresses, IPv6, and use after close.
#include <string>

#include "support.hpp"

using namespace net_test;
using net::SocketAddress;
using net::UdpSocket;

TEST_CASE("send_to and recv_from tell who sent what") {
  for_each_workers([] {
    auto a = UdpSocket::bind("127.0.0.1:0");
    auto b = UdpSocket::bind(SocketAddress::parse("127.0.0.1:0"));
    CHECK(a.local_addr().port() != 0);
    CHECK(a.local_addr() != b.local_addr());
    auto receiver = weft::spawn([&] {
      char buf[64];
      auto r = b.recv_from(buf, sizeof buf, kWait);
      CHECK(r.from == a.local_addr());
      std::string got(buf, r.size);
      // Answer the sender.
      b.send_to("pong", 4, r.from, kWait);
      return got;
    });
    CHECK(a.send_to("ping", 4, b.local_addr(), kWait) == 4);
    CHECK(receiver.join() == "ping");
    char buf[8];
    std::error_code ec;
    auto r = a.recv_from(buf, sizeof buf, ec, kWait);
    CHECK_FALSE(ec);
    CHECK(r.size == 4);
    CHECK(r.from == b.local_addr());
    CHECK(std::string(buf, 4) == "pong");
  });
}

TEST_CASE("connect, send and recv, peer_addr") {
  for_each_workers([] {
    auto a = UdpSocket::bind("127.0.0.1:0");
    auto b = UdpSocket::bind("127.0.0.1:0");
    std::error_code ec;
    a.peer_addr(ec);
    CHECK(ec == std::errc::not_connected);
    a.connect(b.local_addr());
    b.connect(a.local_addr());
    CHECK(a.peer_addr() == b.local_addr());
    for (int i = 0; i < 100; ++i) {
      std::string m = "message " + std::to_string(i);
      CHECK(a.send(m.data(), m.size(), kWait) == m.size());
      char buf[64];
      std::size_t n = b.recv(buf, sizeof buf, kWait);
      CHECK(std::string(buf, n) == m);
    }
    // A connected socket drops datagrams from others.
    auto stranger = UdpSocket::bind("127.0.0.1:0");
    stranger.send_to("x", 1, b.local_addr(), kWait);
    a.send("y", 1, kWait);
    char c;
    CHECK(b.recv(&c, 1, kWait) == 1);
    CHECK(c == 'y');
  });
}

TEST_CASE("recv deadlines expire with timed_out, never early") {
  for_each_workers([] {
    auto s = UdpSocket::bind("127.0.0.1:0");
    char buf[4];
    std::error_code ec;
    auto t0 = Clock::now();
    s.recv(buf, sizeof buf, ec, 40ms);
    CHECK(ec == std::errc::timed_out);
    CHECK(ms_since(t0) >= 40);
    t0 = Clock::now();
    auto r = s.recv_from(buf, sizeof buf, ec, weft::deadline_in(30ms));
    CHECK(ec == std::errc::timed_out);
    CHECK(r.size == 0);
    CHECK(ms_since(t0) >= 30);
    CHECK_THROWS_AS(s.recv_from(buf, sizeof buf, 5ms), std::system_error);
  });
}

TEST_CASE("empty and truncated datagrams") {
  for_each_workers([] {
    auto a = UdpSocket::bind("127.0.0.1:0");
    auto b = UdpSocket::bind("127.0.0.1:0");
    // An empty datagram is a datagram.
    CHECK(a.send_to("", 0, b.local_addr(), kWait) == 0);
    char buf[8];
    auto r = b.recv_from(buf, sizeof buf, kWait);
    CHECK(r.size == 0);
    CHECK(r.from == a.local_addr());
    // The part that does not fit is dropped; the next datagram is intact.
    a.send_to("0123456789", 10, b.local_addr(), kWait);
    a.send_to("ab", 2, b.local_addr(), kWait);
    CHECK(b.recv(buf, 4, kWait) == 4);
    CHECK(std::string(buf, 4) == "0123");
    CHECK(b.recv(buf, sizeof buf, kWait) == 2);
    CHECK(std::string(buf, 2) == "ab");
  });
}

TEST_CASE("UDP over IPv6") {
  if (!ipv6_available()) {
    MESSAGE("skipped: [::1] cannot be bound here");
    return;
  }
  for_each_workers([] {
    auto a = UdpSocket::bind("[::1]:0");
    auto b = UdpSocket::bind("[::1]:0");
    CHECK(a.local_addr().is_ipv6());
    a.send_to("v6", 2, b.local_addr(), kWait);
    char buf[4];
    auto r = b.recv_from(buf, sizeof buf, kWait);
    CHECK(r.size == 2);
    CHECK(r.from == a.local_addr());
  });
}

TEST_CASE("UDP errors: bad family, after close, broadcast option") {
  for_each_workers([] {
    std::error_code ec;
    UdpSocket::bind(SocketAddress::unix_path("/tmp/x"), ec);
    CHECK(ec == std::errc::address_family_not_supported);
    auto s = UdpSocket::bind("127.0.0.1:0");
    s.set_broadcast(true);
    CHECK(s.get_option(SOL_SOCKET, SO_BROADCAST) == 1);
    auto to = s.local_addr();
    s.close();
    char buf[1];
    s.send_to(buf, 1, to, ec);
    CHECK(ec == std::errc::bad_file_descriptor);
    s.recv_from(buf, 1, ec);
    CHECK(ec == std::errc::bad_file_descriptor);
    s.send(buf, 1, ec);
    CHECK(ec == std::errc::bad_file_descriptor);
    s.recv(buf, 1, ec);
    CHECK(ec == std::errc::bad_file_descriptor);
    CHECK_FALSE(s.connect(to, ec));
    CHECK(ec == std::errc::bad_file_descriptor);
    CHECK_THROWS_AS(s.send(buf, 1), std::system_error);
    // Sending to a port nobody listens on is accepted; a connected socket
    // then learns of the ICMP error on a later call.
    auto c = UdpSocket::bind("127.0.0.1:0");
    auto gone = UdpSocket::bind("127.0.0.1:0");
    auto gone_addr = gone.local_addr();
    gone.close();
    c.connect(gone_addr);
    c.send("x", 1, kWait);
    c.recv(buf, 1, ec, kWait);
    CHECK(ec == std::errc::connection_refused);
  });
}
