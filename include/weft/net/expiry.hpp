// weft::net::Expiry: when a waiting socket call gives up.
#pragma once

#include <chrono>

#include <weft/deadline.hpp>

namespace weft::net {

// Expiry is the limit every waiting call of weft::net takes: a Deadline (an
// absolute steady-clock time, no_deadline for none) or a timeout relative to
// the call, so both `s.read_some(p, n, weft::deadline_in(1s))` and
// `s.read_some(p, n, 1s)` read naturally. A timeout turns into a deadline once,
// when the call starts: a loop such as write_all() keeps one limit for all its
// syscalls. The default waits for ever.
class Expiry {
 public:
  constexpr Expiry() noexcept = default;
  constexpr Expiry(Deadline d) noexcept : at_(d) {}  // NOLINT: implicit on purpose
  template <class Rep, class Period>
  Expiry(std::chrono::duration<Rep, Period> timeout)  // NOLINT: implicit on purpose
      : at_(deadline_in(timeout)) {}

  // deadline() is the absolute time at which the call fails with timed_out.
  constexpr Deadline deadline() const noexcept { return at_; }

 private:
  Deadline at_ = no_deadline;
};

}  // namespace weft::net
