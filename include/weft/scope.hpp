// Deadline scopes: one deadline for every waiting call in a block of code.
#pragma once

#include <chrono>
#include <functional>
#include <type_traits>
#include <utility>

#include <weft/deadline.hpp>

namespace weft {

namespace detail {
// enter_deadline() narrows the caller's scope deadline to tp and returns the
// previous one, which leave_deadline() restores. Per fiber (per thread outside
// fibers).
Deadline enter_deadline(Deadline tp) noexcept;
void leave_deadline(Deadline previous) noexcept;
}  // namespace detail

// current_deadline() is the deadline in force for the caller's waiting calls
// (no_deadline outside any scope).
Deadline current_deadline() noexcept;

// with_deadline() runs f with tp applied to every waiting call inside it —
// I/O, sleep, join, timers, sync primitives, channels — on top of their own
// deadlines; nested scopes take the earliest. A call that hits the scope's
// deadline fails as on its own timeout: std::errc::timed_out, thrown as
// std::system_error by the throwing forms. Returns f's value. (unblock()
// cannot be interrupted: a job that overruns runs to its end.)
template <class F>
std::invoke_result_t<F&> with_deadline(Deadline tp, F&& f) {
  struct Restore {
    Deadline previous;
    ~Restore() { detail::leave_deadline(previous); }
  } restore{detail::enter_deadline(tp)};
  return std::invoke(f);
}

// with_timeout() is with_deadline(now + d, f).
template <class Rep, class Period, class F>
std::invoke_result_t<F&> with_timeout(std::chrono::duration<Rep, Period> d, F&& f) {
  return with_deadline(deadline_in(d), std::forward<F>(f));
}

}  // namespace weft
