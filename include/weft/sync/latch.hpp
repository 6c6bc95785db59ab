// weft::Latch (a single-use countdown, like std::latch) and weft::WaitGroup
// (a reusable counter of outstanding work, like Go's sync.WaitGroup).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include <weft/deadline.hpp>
#include <weft/sync/detail.hpp>

namespace weft {

// Latch counts down from its initial value; waiters are released when it
// reaches zero, and from then on wait() returns at once. Counting below zero
// throws std::logic_error. Waiting is a cancellation point (weft::Cancelled)
// and honours deadline scopes; a waiter that gives up leaves no trace.
class Latch {
 public:
  explicit Latch(std::size_t count) noexcept : count_(count) {}
  Latch(const Latch&) = delete;
  Latch& operator=(const Latch&) = delete;
  // No fiber may be waiting when the Latch is destroyed.
  ~Latch() = default;

  // count_down() subtracts n; reaching zero releases every waiter. One CAS
  // unless it reaches zero.
  void count_down(std::size_t n = 1);

  // try_wait() is true once the count is zero. Never waits.
  bool try_wait() const noexcept { return count_.load(std::memory_order_acquire) == 0; }

  // wait() waits for zero. Throws Cancelled, or std::system_error(timed_out)
  // when a deadline scope ends.
  void wait();
  // wait(ec, d) is the no-throw form: false with ec = timed_out or operation_canceled.
  bool wait(std::error_code& ec, Deadline d = no_deadline) noexcept;
  // wait_until()/wait_for() return false on timeout.
  template <class C, class D>
  bool wait_until(const std::chrono::time_point<C, D>& tp) {
    return try_wait() || detail::expect_timeout(wait_slow(detail::to_deadline(tp)));
  }
  template <class R, class P>
  bool wait_for(const std::chrono::duration<R, P>& d) {
    return try_wait() || detail::expect_timeout(wait_slow(deadline_in(d)));
  }

  // arrive_and_wait() is count_down(n) then wait().
  void arrive_and_wait(std::size_t n = 1) {
    count_down(n);
    wait();
  }

  // count() is the current count (for diagnostics).
  std::size_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

 private:
  std::error_code wait_slow(Deadline d) noexcept;

  std::atomic<std::size_t> count_;    // what remains to count down
  std::atomic<std::uint32_t> lk_{0};  // spin lock word guarding waiters_
  detail::WaitList waiters_;
};

// WaitGroup counts outstanding work: add(n) before starting n jobs, done()
// as each finishes, wait() until the count is zero. Unlike a Latch it can be
// reused: the count may go up again after reaching zero. A wait() that starts
// at zero returns at once; one that starts above zero returns when the count
// next reaches zero. A count below zero throws std::logic_error. Waiting is a
// cancellation point and honours deadline scopes.
class WaitGroup {
 public:
  WaitGroup() noexcept = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;
  // No fiber may be waiting when the WaitGroup is destroyed.
  ~WaitGroup() = default;

  // add() adds delta (which may be negative) to the count. One atomic
  // operation (a CAS when delta < 0) unless the count reaches zero.
  void add(std::int64_t delta = 1);
  // done() is add(-1).
  void done() { add(-1); }

  // wait() waits for the count to reach zero. Throws Cancelled, or
  // std::system_error(timed_out) when a deadline scope ends.
  void wait();
  bool wait(std::error_code& ec, Deadline d = no_deadline) noexcept;
  template <class C, class D>
  bool wait_until(const std::chrono::time_point<C, D>& tp) {
    return count() == 0 || detail::expect_timeout(wait_slow(detail::to_deadline(tp)));
  }
  template <class R, class P>
  bool wait_for(const std::chrono::duration<R, P>& d) {
    return count() == 0 || detail::expect_timeout(wait_slow(deadline_in(d)));
  }

  // count() is the current count.
  std::int64_t count() const noexcept { return count_.load(std::memory_order_acquire); }

 private:
  std::error_code wait_slow(Deadline d) noexcept;

  std::atomic<std::int64_t> count_{0};  // outstanding work
  std::atomic<std::uint32_t> lk_{0};    // spin lock word guarding waiters_
  detail::WaitList waiters_;            // waiting for the next zero
};

}  // namespace weft
