// weft::Timer: a deadline or a period that fibers (or threads) wait on.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

#include <weft/deadline.hpp>

namespace weft {

// Timer fires once at a deadline (after(), at()) or periodically (interval()).
// wait() parks the calling fiber (or blocks a plain thread) until the timer
// fires. Another fiber or thread may reset() or cancel() it meanwhile, and
// every waiter looks again. Several may wait at once: a one-shot timer's
// firing goes to the first of them to see it (the others then find it spent
// and return false), an interval's each tick to one of them. The wheel
// behind it has 1 ms ticks: a timer never fires early and, on an idle
// runtime, within about a millisecond of its deadline. A timer must outlive
// its waiters; a moved-from timer is not armed, and its waiters return false.
class Timer {
 public:
  // never() is a timer that is not armed: wait() returns false at once.
  static Timer never() { return Timer(); }
  // after() fires once, d from now.
  static Timer after(Clock::duration d) { return Timer(deadline_in(d), Clock::duration::zero()); }
  // at() fires once at tp.
  static Timer at(Deadline tp) { return Timer(tp, Clock::duration::zero()); }
  // interval() fires every period, the first time one period from now. A wait
  // that comes late skips the ticks it missed (no burst of catch-up ticks).
  static Timer interval(Clock::duration period) { return interval_at(deadline_in(period), period); }
  static Timer interval_at(Deadline start, Clock::duration period);

  Timer(Timer&& o) noexcept;
  Timer& operator=(Timer&& o) noexcept;
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer() = default;

  // wait() returns true when the timer fires, false if it is not armed or is
  // cancelled while waiting. Throws weft::Cancelled in a cancelled fiber, and
  // std::system_error (timed_out) when a deadline scope (with_deadline) ends
  // before the timer fires.
  bool wait();

  // reset() re-arms the timer for a new deadline (keeping its period); a
  // waiting fiber waits for the new deadline.
  void reset(Deadline tp);
  void reset_after(Clock::duration d) { reset(deadline_in(d)); }

  // cancel() disarms the timer; a waiting fiber's wait() returns false.
  void cancel();

  bool armed() const;
  // deadline() is when the timer fires next (no_deadline when not armed).
  Deadline deadline() const;

 private:
  Timer() = default;
  Timer(Deadline tp, Clock::duration period) : deadline_(tp), period_(period), armed_(true) {}
  struct Parked;
  void wake_waiters_locked() noexcept;
  static void take_state_locked(Timer& to, Timer& from) noexcept;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // plain-thread waiters
  Deadline deadline_ = no_deadline;
  Clock::duration period_{0};
  bool armed_ = false;
  std::size_t generation_ = 0;  // bumped by reset/cancel: wakes waiters to look again
  // The fibers parked in wait(): a list of nodes on their stacks.
  Parked* parked_ = nullptr;
};

}  // namespace weft
