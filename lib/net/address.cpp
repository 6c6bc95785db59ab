// SocketAddress: numeric parsing and printing, by hand around inet_pton and
// inet_ntop so that nothing here blocks or allocates a resolver (names go
// through resolve() on the blocking pool).
#include <weft/net/address.hpp>

#include <arpa/inet.h>
#include <net/if.h>

#include <charconv>
#include <cstddef>
#include <cstring>
#include <stdexcept>

namespace weft::net {

namespace {

// kPathMax is the room for a path in sun_path, with its terminating NUL.
constexpr std::size_t kPathMax = sizeof(sockaddr_un{}.sun_path);

// parse_port() reads 1 to 5 decimal digits up to 65535; nothing else.
bool parse_port(std::string_view s, std::uint16_t& port, const char*& why) noexcept {
  if (s.empty()) {
    why = "the port is missing";
    return false;
  }
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.size() > 5 || v > 65535 || s[0] == '+') {
    why = "the port is not a number from 0 to 65535";
    return false;
  }
  port = static_cast<std::uint16_t>(v);
  return true;
}

// parse_scope() reads an IPv6 zone: a number or an interface name.
bool parse_scope(std::string_view s, std::uint32_t& scope, const char*& why) noexcept {
  if (s.empty()) {
    why = "the IPv6 scope after '%' is empty";
    return false;
  }
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), scope);
  if (ec == std::errc() && end == s.data() + s.size()) return true;
  char name[IF_NAMESIZE];
  if (s.size() >= sizeof name) {
    why = "the IPv6 scope is not a number or an interface name";
    return false;
  }
  std::memcpy(name, s.data(), s.size());
  name[s.size()] = '\0';
  scope = if_nametoindex(name);
  if (scope == 0) {
    why = "the IPv6 scope is not a number or an interface name";
    return false;
  }
  return true;
}

bool parse_impl(std::string_view text, SocketAddress& out, const char*& why) noexcept {
  if (text.empty()) {
    why = "it is empty";
    return false;
  }
  if (text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      why = "'[' has no matching ']'";
      return false;
    }
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      why = "expected ':port' after ']'";
      return false;
    }
    std::string_view host = text.substr(1, close - 1);
    std::uint16_t port;
    if (!parse_port(text.substr(close + 2), port, why)) return false;
    std::uint32_t scope = 0;
    if (std::size_t pct = host.find('%'); pct != std::string_view::npos) {
      if (!parse_scope(host.substr(pct + 1), scope, why)) return false;
      host = host.substr(0, pct);
    }
    char buf[INET6_ADDRSTRLEN];
    in6_addr a6;
    if (host.size() >= sizeof buf) {
      why = "the IPv6 address is too long";
      return false;
    }
    std::memcpy(buf, host.data(), host.size());
    buf[host.size()] = '\0';
    if (inet_pton(AF_INET6, buf, &a6) != 1) {
      why = "not a numeric IPv6 address between the brackets";
      return false;
    }
    out = SocketAddress::ipv6(a6, port, scope);
    return true;
  }
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    why = "expected host:port";
    return false;
  }
  std::string_view host = text.substr(0, colon);
  if (host.find(':') != std::string_view::npos) {
    why = "an IPv6 address needs brackets, as in [::1]:80";
    return false;
  }
  std::uint16_t port;
  if (!parse_port(text.substr(colon + 1), port, why)) return false;
  char buf[INET_ADDRSTRLEN];
  in_addr a4;
  if (host.empty() || host.size() >= sizeof buf) {
    why = host.empty() ? "the host is missing" : "not a numeric IPv4 address (use resolve() for names)";
    return false;
  }
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';
  if (inet_pton(AF_INET, buf, &a4) != 1) {
    why = "not a numeric IPv4 address (use resolve() for names)";
    return false;
  }
  out = SocketAddress::ipv4(a4, port);
  return true;
}

}  // namespace

SocketAddress::SocketAddress() noexcept {
  std::memset(&storage_, 0, sizeof storage_);
  storage_.sa.sa_family = AF_UNSPEC;
}

SocketAddress SocketAddress::parse(std::string_view text) {
  SocketAddress a;
  const char* why = "";
  if (!parse_impl(text, a, why))
    throw std::invalid_argument("weft::net: invalid socket address \"" + std::string(text) + "\": " + why);
  return a;
}

std::optional<SocketAddress> SocketAddress::try_parse(std::string_view text) noexcept {
  SocketAddress a;
  const char* why = "";
  if (!parse_impl(text, a, why)) return std::nullopt;
  return a;
}

SocketAddress SocketAddress::ipv4(const in_addr& addr, std::uint16_t port) noexcept {
  SocketAddress a;
  a.storage_.v4.sin_family = AF_INET;
  a.storage_.v4.sin_addr = addr;
  a.storage_.v4.sin_port = htons(port);
  a.len_ = sizeof(sockaddr_in);
  return a;
}

SocketAddress SocketAddress::ipv6(const in6_addr& addr, std::uint16_t port, std::uint32_t scope_id) noexcept {
  SocketAddress a;
  a.storage_.v6.sin6_family = AF_INET6;
  a.storage_.v6.sin6_addr = addr;
  a.storage_.v6.sin6_port = htons(port);
  a.storage_.v6.sin6_scope_id = scope_id;
  a.len_ = sizeof(sockaddr_in6);
  return a;
}

SocketAddress SocketAddress::unix_path(std::string_view path) {
  if (path.empty()) throw std::invalid_argument("weft::net: a Unix socket path cannot be empty");
  if (path.find('\0') != std::string_view::npos)
    throw std::invalid_argument("weft::net: a Unix socket path cannot hold a NUL byte");
  if (path.size() >= kPathMax)
    throw std::invalid_argument("weft::net: Unix socket path \"" + std::string(path) + "\" is longer than " +
                                std::to_string(kPathMax - 1) + " bytes");
  SocketAddress a;
  a.storage_.un.sun_family = AF_UNIX;
  std::memcpy(a.storage_.un.sun_path, path.data(), path.size());
  a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return a;
}

SocketAddress SocketAddress::unix_abstract(std::string_view name) {
  if (name.size() + 1 > kPathMax)
    throw std::invalid_argument("weft::net: abstract Unix socket name is longer than " +
                                std::to_string(kPathMax - 1) + " bytes");
  SocketAddress a;
  a.storage_.un.sun_family = AF_UNIX;
  std::memcpy(a.storage_.un.sun_path + 1, name.data(), name.size());
  a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return a;
}

SocketAddress SocketAddress::from_native(const sockaddr* sa, socklen_t len) {
  if (len > sizeof(Storage)) throw std::invalid_argument("weft::net: socket address is too long");
  SocketAddress a;
  if (len == 0) return a;
  std::memcpy(&a.storage_, sa, len);
  a.len_ = len;
  return a;
}

Family SocketAddress::family() const noexcept {
  if (len_ == 0) return Family::unspecified;
  switch (storage_.sa.sa_family) {
    case AF_INET: return Family::ipv4;
    case AF_INET6: return Family::ipv6;
    case AF_UNIX: return Family::local;
    default: return Family::unspecified;
  }
}

std::uint16_t SocketAddress::port() const noexcept {
  switch (family()) {
    case Family::ipv4: return ntohs(storage_.v4.sin_port);
    case Family::ipv6: return ntohs(storage_.v6.sin6_port);
    default: return 0;
  }
}

void SocketAddress::set_port(std::uint16_t port) noexcept {
  switch (family()) {
    case Family::ipv4: storage_.v4.sin_port = htons(port); break;
    case Family::ipv6: storage_.v6.sin6_port = htons(port); break;
    default: break;
  }
}

bool SocketAddress::is_abstract() const noexcept {
  return family() == Family::local && len_ > offsetof(sockaddr_un, sun_path) && storage_.un.sun_path[0] == '\0';
}

std::string_view SocketAddress::unix_name() const noexcept {
  if (family() != Family::local) return {};
  std::size_t n = len_ - offsetof(sockaddr_un, sun_path);
  const char* p = storage_.un.sun_path;
  if (n == 0) return {};
  if (p[0] == '\0') return std::string_view(p + 1, n - 1);
  // The kernel may or may not count the terminating NUL of a path.
  return std::string_view(p, strnlen(p, n));
}

std::string SocketAddress::path() const {
  std::string_view name = unix_name();
  std::string s;
  s.reserve(name.size() + 1);
  if (is_abstract()) s.push_back('@');
  s.append(name);
  return s;
}

std::string SocketAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  switch (family()) {
    case Family::ipv4:
      inet_ntop(AF_INET, &storage_.v4.sin_addr, buf, sizeof buf);
      {
        std::string s = buf;
        s += ':';
        s += std::to_string(port());
        return s;
      }
    case Family::ipv6: {
      inet_ntop(AF_INET6, &storage_.v6.sin6_addr, buf, sizeof buf);
      std::string s = "[";
      s += buf;
      if (storage_.v6.sin6_scope_id != 0) {
        s += '%';
        s += std::to_string(storage_.v6.sin6_scope_id);
      }
      s += "]:";
      s += std::to_string(port());
      return s;
    }
    case Family::local: {
      std::string p = path();
      return p.empty() ? "(unnamed)" : p;
    }
    default: return "(unspecified)";
  }
}

bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept {
  Family f = a.family();
  if (f != b.family()) return false;
  switch (f) {
    case Family::ipv4:
      return a.storage_.v4.sin_port == b.storage_.v4.sin_port &&
             a.storage_.v4.sin_addr.s_addr == b.storage_.v4.sin_addr.s_addr;
    case Family::ipv6:
      return a.storage_.v6.sin6_port == b.storage_.v6.sin6_port &&
             a.storage_.v6.sin6_scope_id == b.storage_.v6.sin6_scope_id &&
             std::memcmp(&a.storage_.v6.sin6_addr, &b.storage_.v6.sin6_addr, sizeof(in6_addr)) == 0;
    case Family::local: return a.unix_name() == b.unix_name() && a.is_abstract() == b.is_abstract();
    default: return true;
  }
}

}  // namespace weft::net
