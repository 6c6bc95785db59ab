// Deadlines for waiting calls: a steady-clock time point, max() meaning none.
#pragma once

#include <chrono>

namespace weft {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// no_deadline is the deadline of a call that may wait for ever.
inline constexpr Deadline no_deadline = Deadline::max();

// deadline_in() is now + d, saturating at no_deadline; a negative d is now.
template <class Rep, class Period>
Deadline deadline_in(std::chrono::duration<Rep, Period> d) {
  auto now = Clock::now();
  if (d <= d.zero()) return now;
  if (d >= std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(no_deadline - now)) return no_deadline;
  return now + std::chrono::ceil<Clock::duration>(d);
}

}  // namespace weft
