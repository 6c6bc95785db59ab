// weft::net::resolve(): names to socket addresses, with getaddrinfo() run on
// the blocking pool so the calling fiber parks instead of its worker.
#pragma once

#include <string_view>
#include <system_error>
#include <vector>

#include <weft/net/address.hpp>

namespace weft::net {

// resolve() looks host up (a name or a numeric address; "" is the wildcard
// address, as for a listener) and returns its addresses with service's port
// (a number or a name from /etc/services), in getaddrinfo()'s order (RFC 6724)
// and without duplicates. Never empty on success. Inside a fiber the lookup
// runs through weft::unblock(); outside one it blocks the caller. It takes no
// deadline: a running getaddrinfo() cannot be interrupted.
// Throws std::system_error: resolve_category() with getaddrinfo()'s own
// message, or an errno value.
std::vector<SocketAddress> resolve(std::string_view host, std::string_view service);
std::vector<SocketAddress> resolve(std::string_view host, std::string_view service, std::error_code& ec);

// split_host_port() cuts "host:port" or "[ipv6]:port" at its last colon,
// dropping the brackets. False when there is no colon or a bracket is unmatched.
bool split_host_port(std::string_view text, std::string_view& host, std::string_view& port) noexcept;

}  // namespace weft::net
