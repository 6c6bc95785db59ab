// SocketAddress: parsing, printing, equality, Unix paths, and bad input.
#include <cstring>
#include <stdexcept>
#include <string>

#include "support.hpp"

using namespace net_test;
using net::Family;
using net::SocketAddress;

TEST_CASE("parse and print IPv4") {
  auto a = SocketAddress::parse("127.0.0.1:8080");
  CHECK(a.family() == Family::ipv4);
  CHECK(a.is_ipv4());
  CHECK(a.port() == 8080);
  CHECK(a.to_string() == "127.0.0.1:8080");
  CHECK(a.size() == sizeof(sockaddr_in));
  CHECK(a.data()->sa_family == AF_INET);
  CHECK(SocketAddress::parse("0.0.0.0:0").to_string() == "0.0.0.0:0");
  CHECK(SocketAddress::parse("255.255.255.255:65535").port() == 65535);
}

TEST_CASE("parse and print IPv6") {
  auto a = SocketAddress::parse("[::1]:80");
  CHECK(a.family() == Family::ipv6);
  CHECK(a.port() == 80);
  CHECK(a.to_string() == "[::1]:80");
  CHECK(a.size() == sizeof(sockaddr_in6));
  CHECK(SocketAddress::parse("[::]:0").to_string() == "[::]:0");
  CHECK(SocketAddress::parse("[2001:DB8::1]:443").to_string() == "[2001:db8::1]:443");
  auto scoped = SocketAddress::parse("[fe80::1%7]:9");
  CHECK(scoped.to_string() == "[fe80::1%7]:9");
  CHECK(scoped != SocketAddress::parse("[fe80::1]:9"));
  // Interface names are taken as scopes too; "lo" exists wherever there is a loopback.
  auto by_name = SocketAddress::try_parse("[fe80::1%lo]:9");
  REQUIRE(by_name);
  CHECK(by_name->to_string().find("[fe80::1%") == 0);
}

TEST_CASE("to_string and parse round-trip") {
  for (const char* s : {"1.2.3.4:5", "10.0.0.255:65535", "[::ffff:1.2.3.4]:80", "[fe80::abcd]:1"}) {
    INFO(s);
    CHECK(SocketAddress::parse(SocketAddress::parse(s).to_string()) == SocketAddress::parse(s));
  }
}

TEST_CASE("equality") {
  CHECK(SocketAddress::parse("127.0.0.1:1") == SocketAddress::parse("127.0.0.1:1"));
  CHECK(SocketAddress::parse("127.0.0.1:1") != SocketAddress::parse("127.0.0.1:2"));
  CHECK(SocketAddress::parse("127.0.0.1:1") != SocketAddress::parse("127.0.0.2:1"));
  CHECK(SocketAddress::parse("[::1]:1") != SocketAddress::parse("127.0.0.1:1"));
  CHECK(SocketAddress() == SocketAddress());
  CHECK(SocketAddress() != SocketAddress::parse("0.0.0.0:0"));
  CHECK(SocketAddress::unix_path("/tmp/a") == SocketAddress::unix_path("/tmp/a"));
  CHECK(SocketAddress::unix_path("/tmp/a") != SocketAddress::unix_path("/tmp/b"));
  CHECK(SocketAddress::unix_path("@x") != SocketAddress::unix_abstract("x"));
  CHECK(SocketAddress::unix_abstract("x") == SocketAddress::unix_abstract("x"));
}

TEST_CASE("default, ports and raw constructors") {
  SocketAddress d;
  CHECK(d.family() == Family::unspecified);
  CHECK(d.port() == 0);
  CHECK(d.to_string() == "(unspecified)");
  auto a = SocketAddress::parse("127.0.0.1:1");
  a.set_port(4242);
  CHECK(a.to_string() == "127.0.0.1:4242");
  in_addr lo{htonl(INADDR_LOOPBACK)};
  CHECK(SocketAddress::ipv4(lo, 7) == SocketAddress::parse("127.0.0.1:7"));
  CHECK(SocketAddress::ipv6(in6addr_loopback, 7) == SocketAddress::parse("[::1]:7"));
  auto copy = SocketAddress::from_native(a.data(), a.size());
  CHECK(copy == a);
}

TEST_CASE("Unix addresses") {
  auto p = SocketAddress::unix_path("/run/weft.sock");
  CHECK(p.family() == Family::local);
  CHECK(p.is_unix());
  CHECK_FALSE(p.is_abstract());
  CHECK(p.path() == "/run/weft.sock");
  CHECK(p.to_string() == "/run/weft.sock");
  CHECK(p.port() == 0);
  auto ab = SocketAddress::unix_abstract("weft-test");
  CHECK(ab.is_abstract());
  CHECK(ab.to_string() == "@weft-test");
  CHECK(ab.size() == offsetof(sockaddr_un, sun_path) + 1 + std::strlen("weft-test"));
  std::string longest(107, 'x');
  CHECK(SocketAddress::unix_path(longest).path() == longest);
  CHECK_THROWS_AS(SocketAddress::unix_path(longest + "x"), std::invalid_argument);
  CHECK_THROWS_AS(SocketAddress::unix_path(""), std::invalid_argument);
  CHECK_THROWS_AS(SocketAddress::unix_path(std::string("a\0b", 3)), std::invalid_argument);
  CHECK_THROWS_AS(SocketAddress::unix_abstract(longest + "x"), std::invalid_argument);
}

TEST_CASE("bad address strings") {
  const char* bad[] = {
      "",                  // empty
      "127.0.0.1",         // no port
      "127.0.0.1:",        // empty port
      "127.0.0.1:65536",   // port too large
      "127.0.0.1:-1",      // sign
      "127.0.0.1:+1",      // sign
      "127.0.0.1:80x",     // trailing junk
      "127.0.0.1:123456",  // too many digits
      ":80",               // no host
      "localhost:80",      // a name: numeric only
      "256.0.0.1:80",      // octet out of range
      "1.2.3:80",          // three parts
      "1.2.3.4.5:80",      // five parts
      "::1:80",            // IPv6 without brackets
      "[::1]",             // no port
      "[::1]80",           // no colon
      "[::1:80",           // unmatched bracket
      "[::g]:80",          // not hex
      "[1.2.3.4]:80",      // IPv4 in brackets
      "[fe80::1%]:80",     // empty scope
      "[fe80::1%no-such-if0]:80",  // unknown interface
      " 127.0.0.1:80",     // whitespace
  };
  for (const char* s : bad) {
    INFO("input: \"" << s << "\"");
    CHECK_FALSE(SocketAddress::try_parse(s).has_value());
    try {
      SocketAddress::parse(s);
      FAIL("parse accepted it");
    } catch (const std::invalid_argument& e) {
      // The message quotes the input and says what is wrong with it.
      std::string what = e.what();
      CHECK(what.find("\"" + std::string(s) + "\"") != std::string::npos);
      CHECK(what.size() > std::string(s).size() + 40);
    }
  }
}
