// resolve(): getaddrinfo() on the blocking pool. The job copies host and
// service into its own strings (getaddrinfo wants NUL-terminated text) and
// hands back plain SocketAddress values, so nothing of the fiber's is used
// after the fiber resumes.
#include <weft/net/resolve.hpp>

#include <netdb.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include <weft/errors.hpp>
#include <weft/net/errors.hpp>
#include <weft/unblock.hpp>

namespace weft::net {

namespace {

struct Lookup {
  std::vector<SocketAddress> addrs;
  int gai = 0;    // getaddrinfo()'s result
  int errno_ = 0; // errno when gai is EAI_SYSTEM
};

Lookup lookup(const std::string& host, const std::string& service) noexcept {
  Lookup r;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  // One socket type, or getaddrinfo() lists every address once per type.
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = host.empty() ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  r.gai = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (r.gai == EAI_SYSTEM) r.errno_ = errno;
  if (r.gai != 0) return r;
  try {
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
      auto a = SocketAddress::from_native(ai->ai_addr, ai->ai_addrlen);
      if (std::find(r.addrs.begin(), r.addrs.end(), a) == r.addrs.end()) r.addrs.push_back(a);
    }
  } catch (...) {
    r.gai = EAI_MEMORY;
  }
  freeaddrinfo(res);
  if (r.gai == 0 && r.addrs.empty()) r.gai = EAI_NONAME;
  return r;
}

}  // namespace

std::vector<SocketAddress> resolve(std::string_view host, std::string_view service, std::error_code& ec) {
  // getaddrinfo() takes any number as a port and keeps its low 16 bits.
  if (!service.empty() && service.find_first_not_of("0123456789") == std::string_view::npos &&
      (service.size() > 5 || std::stoul(std::string(service)) > 65535)) {
    ec.assign(EAI_SERVICE, resolve_category());
    return {};
  }
  std::string h(host), s(service);
  Lookup r;
  try {
    r = weft::unblock([&] { return lookup(h, s); });
  } catch (const Cancelled&) {
    // The no-throw form reports cancellation as the waiting calls of Async do.
    ec = std::make_error_code(std::errc::operation_canceled);
    return {};
  }
  if (r.gai == EAI_SYSTEM) {
    ec.assign(r.errno_ ? r.errno_ : EIO, std::generic_category());
  } else if (r.gai != 0) {
    ec.assign(r.gai, resolve_category());
  } else {
    ec.clear();
  }
  return std::move(r.addrs);
}

std::vector<SocketAddress> resolve(std::string_view host, std::string_view service) {
  std::error_code ec;
  auto addrs = resolve(host, service, ec);
  if (ec == std::errc::operation_canceled) throw Cancelled();
  if (ec)
    throw std::system_error(ec, "weft::net: cannot resolve \"" + std::string(host) + "\" service \"" +
                                    std::string(service) + "\"");
  return addrs;
}

bool split_host_port(std::string_view text, std::string_view& host, std::string_view& port) noexcept {
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  host = text.substr(0, colon);
  port = text.substr(colon + 1);
  if (!host.empty() && host.front() == '[') {
    if (host.back() != ']') return false;
    host = host.substr(1, host.size() - 2);
  } else if (host.find_first_of("[]") != std::string_view::npos) {
    return false;
  }
  return true;
}

}  // namespace weft::net
