// weft::net::SocketAddress: an IPv4, IPv6 or Unix-domain socket address, held
// by value in the form the kernel takes, so syscalls get data()/size() as is.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace weft::net {

// Family is the kind of address a SocketAddress holds.
enum class Family {
  unspecified,  // a default-constructed SocketAddress
  ipv4,         // AF_INET
  ipv6,         // AF_INET6
  local,        // AF_UNIX: a filesystem path, an abstract name, or unnamed
};

// SocketAddress is a socket address value: cheap to copy (no allocation), and
// comparable. Text forms are numeric only ("127.0.0.1:8080", "[::1]:80",
// "[fe80::1%2]:80"); names go through resolve().
class SocketAddress {
 public:
  // A default SocketAddress is unspecified: family() == Family::unspecified.
  SocketAddress() noexcept;

  // parse() reads "a.b.c.d:port" or "[ipv6]:port" (an IPv6 scope may follow
  // '%', as a number or an interface name). Throws std::invalid_argument with
  // the text and the reason on anything else.
  static SocketAddress parse(std::string_view text);
  // try_parse() is parse() that returns nullopt instead of throwing.
  static std::optional<SocketAddress> try_parse(std::string_view text) noexcept;

  // ipv4()/ipv6() build an address from raw network-order bytes and a port.
  static SocketAddress ipv4(const in_addr& addr, std::uint16_t port) noexcept;
  static SocketAddress ipv6(const in6_addr& addr, std::uint16_t port, std::uint32_t scope_id = 0) noexcept;

  // unix_path() is the address of a Unix-domain socket at a filesystem path.
  // Throws std::invalid_argument if path is empty, holds a NUL, or is longer
  // than sun_path allows (107 bytes on Linux).
  static SocketAddress unix_path(std::string_view path);
  // unix_abstract() is a Linux abstract-namespace address: name is not a file
  // and vanishes with the last socket bound to it. to_string() shows it as
  // "@name". Throws std::invalid_argument if name is too long.
  static SocketAddress unix_abstract(std::string_view name);

  // from_native() copies an address the kernel gave back (accept, recvfrom,
  // getsockname). Throws std::invalid_argument if len is too large.
  static SocketAddress from_native(const sockaddr* sa, socklen_t len);

  Family family() const noexcept;
  bool is_ipv4() const noexcept { return family() == Family::ipv4; }
  bool is_ipv6() const noexcept { return family() == Family::ipv6; }
  bool is_unix() const noexcept { return family() == Family::local; }

  // port() is the port of an IP address in host order; 0 for other families.
  std::uint16_t port() const noexcept;
  // set_port() changes the port of an IP address; no-op for other families.
  void set_port(std::uint16_t port) noexcept;

  // path() is the path of a Unix address ("" when unnamed); abstract names
  // come back with their leading NUL byte replaced by '@'.
  std::string path() const;
  // is_abstract() is true for a Unix address in the abstract namespace.
  bool is_abstract() const noexcept;

  // to_string() is the numeric text form: "127.0.0.1:8080", "[::1]:80", the
  // path of a Unix address ("@name" if abstract, "(unnamed)" if unbound), and
  // "(unspecified)" for a default SocketAddress.
  std::string to_string() const;

  // data()/size() are the sockaddr and length for bind(), connect(), sendto().
  const sockaddr* data() const noexcept { return &storage_.sa; }
  socklen_t size() const noexcept { return len_; }
  // capacity() is the room a syscall that fills an address may use.
  static constexpr socklen_t capacity() noexcept { return sizeof(Storage); }

  // Equal addresses have the same family and the same address, port and (for
  // IPv6) scope, or the same Unix path bytes.
  friend bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept;

 private:
  // unix_name() is the name bytes of a Unix address, without the leading NUL
  // of an abstract name or the trailing NUL of a path.
  std::string_view unix_name() const noexcept;

  union Storage {
    sockaddr sa;
    sockaddr_in v4;
    sockaddr_in6 v6;
    sockaddr_un un;
  };
  Storage storage_;
  socklen_t len_ = 0;
};

}  // namespace weft::net
