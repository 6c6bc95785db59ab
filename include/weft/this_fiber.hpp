// weft::this_fiber: what a fiber can ask about, and do to, itself.
#pragma once

#include <chrono>
#include <string_view>

namespace weft::detail {
// sleep_ahead() is this_fiber::sleep_until(tp) for a tp at least a
// millisecond after a clock reading the caller just took: it need not read
// the clock again to see whether tp has passed already.
void sleep_ahead(std::chrono::steady_clock::time_point tp);
}  // namespace weft::detail

namespace weft::this_fiber {

// yield() lets the other ready fibers of this worker run, then resumes.
// A cancellation point: throws weft::Cancelled in a cancelled fiber.
void yield();

// sleep_until() parks the fiber until the steady clock reaches tp.
// A cancellation point.
void sleep_until(std::chrono::steady_clock::time_point tp);

// sleep_for() parks the fiber for at least d. A cancellation point.
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  auto now = std::chrono::steady_clock::now();
  auto max_d = std::chrono::steady_clock::time_point::max() - now;
  if (d > max_d) {
    sleep_until(std::chrono::steady_clock::time_point::max());
  } else if (d >= std::chrono::milliseconds(1)) {
    weft::detail::sleep_ahead(now + std::chrono::ceil<std::chrono::steady_clock::duration>(d));
  } else {
    sleep_until(now + std::chrono::ceil<std::chrono::steady_clock::duration>(d));
  }
}

// in_fiber() is true when the caller runs in a weft fiber.
bool in_fiber() noexcept;

// name() is the name given at spawn (empty if none, or outside a fiber).
std::string_view name() noexcept;

// worker_index() is the index of the worker thread running the caller right
// now (0-based), or -1 outside a runtime's worker. It may change after any
// waiting call, unless the fiber was made with spawn_local().
int worker_index() noexcept;

// cancelled() is true once the fiber has been asked to stop.
bool cancelled() noexcept;

}  // namespace weft::this_fiber
