// weft::SharedMutex: a readers-writer lock that parks waiting fibers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <system_error>

#include <weft/deadline.hpp>
#include <weft/sync/detail.hpp>

namespace weft {

// SharedMutex lets many readers (lock_shared) or one writer (lock) in.
//
// Phase-fair: readers and writers take turns. A writer that arrives while
// readers hold the lock stops newcomers from reading; when the readers have
// drained, the oldest writer gets the lock. When a writer releases it, every
// reader waiting at that moment is let in together, before the next writer.
// So a writer waits at most for one reader phase and the writers queued ahead
// of it, and a reader at most for one writer: neither side starves. Writers
// are served in FIFO order.
//
// Waiting calls are cancellation points (weft::Cancelled) and honour deadline
// scopes, like Mutex; a waiter that gives up leaves no trace (a writer that
// gives up lets the readers it was holding back in). Usable with
// std::unique_lock and std::shared_lock. Not recursive, not upgradable.
class SharedMutex {
 public:
  SharedMutex() noexcept = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;
  ~SharedMutex() = default;

  // lock() takes the lock exclusively. Throws Cancelled, or
  // std::system_error(timed_out) when a deadline scope ends.
  void lock();
  // lock(ec, d): the no-throw form; false with ec = timed_out or operation_canceled.
  bool lock(std::error_code& ec, Deadline d = no_deadline) noexcept;
  // try_lock() takes it exclusively if it is free. One CAS.
  bool try_lock() noexcept {
    std::uint64_t expected = 0;
    return state_.compare_exchange_strong(expected, kWriter, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  template <class C, class D>
  bool try_lock_until(const std::chrono::time_point<C, D>& tp) {
    return try_lock() || detail::expect_timeout(lock_slow(detail::to_deadline(tp)));
  }
  template <class R, class P>
  bool try_lock_for(const std::chrono::duration<R, P>& d) {
    return try_lock() || detail::expect_timeout(lock_slow(deadline_in(d)));
  }
  // unlock() releases exclusive ownership: waiting readers go first.
  void unlock() noexcept {
    std::uint64_t expected = kWriter;
    if (!state_.compare_exchange_strong(expected, 0, std::memory_order_release,
                                        std::memory_order_relaxed))
      unlock_slow();
  }

  // lock_shared() takes the lock for reading.
  void lock_shared();
  bool lock_shared(std::error_code& ec, Deadline d = no_deadline) noexcept;
  // try_lock_shared() takes it for reading if no writer holds it or waits.
  bool try_lock_shared() noexcept {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    while (!(s & (kWriter | kWaiters))) {
      if (state_.compare_exchange_weak(s, s + kReader, std::memory_order_acquire, std::memory_order_relaxed))
        return true;
    }
    return false;
  }
  template <class C, class D>
  bool try_lock_shared_until(const std::chrono::time_point<C, D>& tp) {
    return try_lock_shared() || detail::expect_timeout(lock_shared_slow(detail::to_deadline(tp)));
  }
  template <class R, class P>
  bool try_lock_shared_for(const std::chrono::duration<R, P>& d) {
    return try_lock_shared() || detail::expect_timeout(lock_shared_slow(deadline_in(d)));
  }
  // unlock_shared() releases one reader; the last one lets a writer in.
  void unlock_shared() noexcept {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    while (!(s & kWaiters)) {
      if (s < kReader) break;  // not read-locked: unlock_shared_slow() reports it
      if (state_.compare_exchange_weak(s, s - kReader, std::memory_order_release, std::memory_order_relaxed))
        return;
    }
    unlock_shared_slow();
  }

 private:
  static constexpr std::uint64_t kWriter = 1;   // a writer holds the lock
  static constexpr std::uint64_t kWaiters = 2;  // readers_ or writers_ is not empty
  static constexpr std::uint64_t kReader = 4;   // one reader (the count sits above)

  std::error_code lock_slow(Deadline d) noexcept;
  std::error_code lock_shared_slow(Deadline d) noexcept;
  void unlock_slow() noexcept;
  void unlock_shared_slow() noexcept;
  void grant_locked(bool readers_first) noexcept;
  std::uint64_t admit_readers_locked(std::uint64_t held) noexcept;
  std::uint64_t waiters_bit() const noexcept;

  // state_: readers * kReader | kWriter | kWaiters. While kWaiters is set the
  // fast paths all fail, so only code holding lk_ changes the word.
  std::atomic<std::uint64_t> state_{0};
  std::atomic<std::uint32_t> lk_{0};  // spin lock word guarding the lists
  detail::WaitList readers_;          // readers waiting for the next reader phase
  detail::WaitList writers_;          // writers waiting, oldest first
};

}  // namespace weft
