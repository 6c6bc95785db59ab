// The socket operations that several weft::net types share: opening,
// connecting, accepting, and the error plumbing. Internal to the library.
#pragma once

#include <chrono>
#include <exception>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <weft/async.hpp>
#include <weft/deadline.hpp>
#include <weft/net/address.hpp>
#include <weft/net/expiry.hpp>

namespace weft::net::detail {

using Io = weft::Async<weft::OwnedFd>;

// closed() is the error of a call on a closed socket.
inline std::error_code closed() noexcept { return std::make_error_code(std::errc::bad_file_descriptor); }

// errno_code() is errno as an error_code. Call it right after the failed
// syscall, before anything that may park (see weft::detail::last_errno()).
inline std::error_code errno_code() noexcept { return {weft::detail::last_errno(), std::generic_category()}; }

// fail() throws std::system_error(ec) naming the call: "weft::net: what: ...".
[[noreturn]] void fail(std::error_code ec, const char* what);

// open_socket() is socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0).
OwnedFd open_socket(int family, int type, std::error_code& ec) noexcept;

// adopt() makes an S from a descriptor (see Socket(OwnedFd)), reporting a
// registration failure in ec instead of throwing.
template <class S>
S adopt(OwnedFd fd, std::error_code& ec) noexcept {
  try {
    S s(std::move(fd));
    ec.clear();
    return s;
  } catch (const std::system_error& e) {
    ec = e.code();
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  return S();
}

// set_int_option() is setsockopt() of an int.
bool set_int_option(int fd, int level, int name, int value, std::error_code& ec) noexcept;

// bind_listen() binds fd to addr and, if backlog >= 0, listens.
bool bind_listen(int fd, const SocketAddress& addr, int backlog, std::error_code& ec) noexcept;

// name_of() is getpeername() (peer) or getsockname() of fd.
SocketAddress name_of(int fd, bool peer, std::error_code& ec) noexcept;

// connect_io() connects io's socket to addr, parking until the handshake
// ends or the deadline passes.
bool connect_io(Io& io, const SocketAddress& addr, Deadline d, std::error_code& ec) noexcept;

// accept_io() accepts the next connection on io's listening socket, backing
// off on descriptor exhaustion; peer gets the address of the other end.
OwnedFd accept_io(Io& io, SocketAddress& peer, Deadline d, std::error_code& ec) noexcept;

// backoff() sleeps for delay (or until d, if sooner) and doubles delay up to
// cap. False with ec = timed_out once d has passed, or operation_canceled.
bool backoff(std::chrono::milliseconds& delay, std::chrono::milliseconds cap, Deadline d,
             std::error_code& ec) noexcept;

// addresses_of() is the numeric address host_port spells, or failing that
// what resolve() finds for it by e. Empty with ec set when neither works.
std::vector<SocketAddress> addresses_of(std::string_view host_port, std::error_code& ec, Expiry e = {}) noexcept;

}  // namespace weft::net::detail
