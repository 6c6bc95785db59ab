// weft::net::resolve(): names to socket addresses, with getaddrinfo() run on
// the blocking pool so the calling fiber parks instead of its worker.
#pragma once

#include <string_view>
#include <system_error>
#include <vector>

#include <weft/net/address.hpp>
#include <weft/net/expiry.hpp>

namespace weft::net {

// resolve() looks host up (a name or a numeric address; "" is the wildcard
// address, as for a listener) and returns its addresses with service's port
// (a number or a name from /etc/services), in getaddrinfo()'s order (RFC 6724)
// and without duplicates. Never empty on success. Inside a fiber the lookup
// runs on the runtime's blocking pool (see weft::unblock()) while the fiber
// parks; outside one, without a deadline, it blocks the caller.
// With an Expiry (or inside a deadline scope) the caller waits until then and
// fails with timed_out; a running getaddrinfo() cannot be interrupted, so it
// finishes on its own thread and its result is dropped (a runtime's shutdown
// waits for it). Outside a fiber such a lookup runs on a thread of its own.
// A cancelled fiber stops waiting at once in that form, and after the lookup
// without an Expiry.
// Throws std::system_error: resolve_category() with getaddrinfo()'s own
// message, an errno value, or timed_out; weft::Cancelled when cancelled. The
// no-throw form reports cancellation as operation_canceled.
std::vector<SocketAddress> resolve(std::string_view host, std::string_view service, Expiry e = {});
std::vector<SocketAddress> resolve(std::string_view host, std::string_view service,
                                   std::error_code& ec, Expiry e = {});

// split_host_port() cuts "host:port" or "[ipv6]:port" at its last colon,
// dropping the brackets. False when there is no colon or a bracket is unmatched.
bool split_host_port(std::string_view text, std::string_view& host, std::string_view& port) noexcept;

}  // namespace weft::net
