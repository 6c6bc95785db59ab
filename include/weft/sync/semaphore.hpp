// weft::Semaphore: a counting semaphore that parks waiting fibers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include <weft/deadline.hpp>
#include <weft/sync/detail.hpp>

namespace weft {

// Semaphore holds a number of permits. acquire(n) takes n, waiting until
// they are there; release(n) puts n back and hands them to waiters.
//
// Fair: waiters are served in FIFO order, and a waiter asking for many
// permits holds back those behind it (so it cannot starve), and newcomers do
// not take permits while anyone waits. A waiter that gives up (deadline,
// cancellation) takes nothing and leaves nothing behind: permits it was
// waiting for go to the next waiter. Acquire and release may happen on
// different fibers or threads. The uncontended paths are one CAS.
//
// Waiting calls are cancellation points (weft::Cancelled) and honour deadline
// scopes; the throwing forms throw std::system_error(timed_out) when a scope
// ends, the _until/_for forms return false.
class Semaphore {
 public:
  // max() is the largest number of permits a Semaphore can hold.
  static constexpr std::uint64_t max() noexcept { return (std::uint64_t{1} << 62) - 1; }

  explicit Semaphore(std::uint64_t permits = 0) noexcept : state_(permits << 1) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  // No fiber may be waiting when the Semaphore is destroyed.
  ~Semaphore() = default;

  // acquire() takes n permits (default 1), waiting for them.
  void acquire(std::uint64_t n = 1) {
    if (!try_acquire(n)) acquire_contended(n);
  }

  // acquire(n, ec, d) is the no-throw form: false with ec = timed_out or
  // operation_canceled, having taken nothing.
  bool acquire(std::uint64_t n, std::error_code& ec, Deadline d = no_deadline) noexcept {
    ec = try_acquire(n) ? std::error_code() : acquire_slow(n, d);
    return !ec;
  }

  // try_acquire() takes n permits if they are there and nobody waits.
  bool try_acquire(std::uint64_t n = 1) noexcept {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    while (!(s & kWaiters) && (s >> 1) >= n) {
      if (state_.compare_exchange_weak(s, s - (n << 1), std::memory_order_acquire, std::memory_order_relaxed))
        return true;
    }
    return false;
  }

  // try_acquire_until() waits until tp at most; false on timeout.
  template <class C, class D>
  bool try_acquire_until(const std::chrono::time_point<C, D>& tp, std::uint64_t n = 1) {
    return try_acquire(n) || detail::expect_timeout(acquire_slow(n, detail::to_deadline(tp)));
  }
  template <class R, class P>
  bool try_acquire_for(const std::chrono::duration<R, P>& d, std::uint64_t n = 1) {
    return try_acquire(n) || detail::expect_timeout(acquire_slow(n, deadline_in(d)));
  }

  // release() adds n permits (default 1) and wakes the waiters they satisfy.
  // Going past max() aborts.
  void release(std::uint64_t n = 1) noexcept {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    while (!(s & kWaiters) && n <= max() - (s >> 1)) {
      if (state_.compare_exchange_weak(s, s + (n << 1), std::memory_order_release, std::memory_order_relaxed))
        return;
    }
    release_slow(n);
  }

  // available() is the number of permits free right now.
  std::uint64_t available() const noexcept { return state_.load(std::memory_order_relaxed) >> 1; }

 private:
  static constexpr std::uint64_t kWaiters = 1;  // waiters_ is not empty

  void acquire_contended(std::uint64_t n);
  std::error_code acquire_slow(std::uint64_t n, Deadline d) noexcept;
  void release_slow(std::uint64_t n) noexcept;
  void grant_locked(std::uint64_t s) noexcept;

  // state_ is permits << 1 | kWaiters. While kWaiters is set the fast paths
  // fail, so only code holding lk_ changes it.
  std::atomic<std::uint64_t> state_;
  std::atomic<std::uint32_t> lk_{0};  // spin lock word guarding waiters_
  detail::WaitList waiters_;          // oldest first
};

}  // namespace weft
