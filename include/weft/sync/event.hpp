// weft::Event: a manual-reset event that fibers and threads wait on.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <system_error>

#include <weft/deadline.hpp>
#include <weft/sync/detail.hpp>

namespace weft {

// Event is a flag that waiters wait for. set() raises it and releases every
// waiter; it stays raised (later waits return at once) until reset(). A
// waiter released by a set() returns success even if a reset() followed
// before it ran. Waiting is a cancellation point (weft::Cancelled) and
// honours deadline scopes; a waiter that gives up leaves no trace.
class Event {
 public:
  explicit Event(bool set = false) noexcept : state_(set ? kSet : 0) {}
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  // No fiber may be waiting when the Event is destroyed.
  ~Event() = default;

  // set() raises the event and wakes every waiter. One atomic operation when
  // nobody waits.
  void set() noexcept {
    if (state_.fetch_or(kSet, std::memory_order_acq_rel) & kWaiters) wake_waiters();
  }

  // reset() lowers the event.
  void reset() noexcept { state_.fetch_and(~kSet, std::memory_order_relaxed); }

  // is_set() tells whether the event is raised.
  bool is_set() const noexcept { return state_.load(std::memory_order_acquire) & kSet; }

  // wait() waits for the event. Throws Cancelled, or
  // std::system_error(timed_out) when a deadline scope ends.
  void wait();
  // wait(ec, d) is the no-throw form: false with ec = timed_out or operation_canceled.
  bool wait(std::error_code& ec, Deadline d = no_deadline) noexcept;
  // wait_until()/wait_for() return false on timeout.
  template <class C, class D>
  bool wait_until(const std::chrono::time_point<C, D>& tp) {
    return is_set() || detail::expect_timeout(wait_slow(detail::to_deadline(tp)));
  }
  template <class R, class P>
  bool wait_for(const std::chrono::duration<R, P>& d) {
    return is_set() || detail::expect_timeout(wait_slow(deadline_in(d)));
  }

 private:
  static constexpr std::uint32_t kSet = 1;      // raised
  static constexpr std::uint32_t kWaiters = 2;  // waiters_ is not empty

  std::error_code wait_slow(Deadline d) noexcept;
  void wake_waiters() noexcept;

  std::atomic<std::uint32_t> state_;  // kSet | kWaiters
  std::atomic<std::uint32_t> lk_{0};  // spin lock word guarding waiters_ and kWaiters
  detail::WaitList waiters_;
};

}  // namespace weft
