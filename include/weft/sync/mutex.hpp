// weft::Mutex: a mutual-exclusion lock that parks the waiting fiber, never
// its worker thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <system_error>

#include <weft/deadline.hpp>
#include <weft/sync/detail.hpp>

namespace weft {

class CondVar;

// Mutex is a lock for fibers and threads alike. Hold it, not a std::mutex,
// across any call that may park (I/O, sleep, join, another lock): a fiber
// that parks holding a std::mutex leaves its worker free to run a fiber that
// then blocks the whole thread on that std::mutex, and the worker deadlocks.
//
// A fiber that finds the Mutex taken spins briefly (the holder may be about
// to release it on another worker), then queues and parks. unlock() hands the
// Mutex straight to the oldest waiter, so waiters are served in FIFO order and
// none starves: once a fiber has queued, at most the waiters ahead of it take
// the Mutex before it does. A newcomer only takes a free Mutex when nobody is
// queued. On a plain thread the same calls block that thread.
//
// Waiting calls are cancellation points: in a cancelled fiber a lock() that
// has to wait throws weft::Cancelled (a free Mutex is still taken). They honour
// deadline scopes (with_deadline/with_timeout). A waiter that gives up leaves
// no trace: the Mutex then goes to the next waiter.
//
// Not recursive. Any fiber or thread may unlock it (there is no owner check);
// unlocking a Mutex that is not locked aborts. Meets the standard Lockable and
// TimedLockable requirements: use std::lock_guard, std::unique_lock,
// std::scoped_lock.
class Mutex {
 public:
  Mutex() noexcept = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  // The Mutex must be unlocked and have no waiters when it is destroyed.
  ~Mutex() = default;

  // lock() takes the Mutex, waiting as long as it takes. Throws Cancelled in
  // a cancelled fiber, std::system_error(timed_out) when a deadline scope ends.
  void lock() {
    if (!try_lock()) lock_contended();
  }

  // lock(ec, d) is the no-throw form: true once locked; false with ec =
  // timed_out (d or a deadline scope passed) or operation_canceled.
  bool lock(std::error_code& ec, Deadline d = no_deadline) noexcept {
    if (try_lock()) {
      ec.clear();
      return true;
    }
    ec = lock_slow(d);
    return !ec;
  }

  // try_lock() takes the Mutex if it is free; never waits. One CAS.
  bool try_lock() noexcept {
    std::uint32_t expected = 0;
    return state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  // try_lock_until() waits until tp at most: false on timeout (tp or a
  // deadline scope). Throws Cancelled in a cancelled fiber.
  template <class C, class D>
  bool try_lock_until(const std::chrono::time_point<C, D>& tp) {
    if (try_lock()) return true;
    return detail::expect_timeout(lock_slow(detail::to_deadline(tp)));
  }

  // try_lock_for() waits for d at most.
  template <class R, class P>
  bool try_lock_for(const std::chrono::duration<R, P>& d) {
    if (try_lock()) return true;
    return detail::expect_timeout(lock_slow(deadline_in(d)));
  }

  // unlock() releases the Mutex, handing it to the oldest waiter if any.
  void unlock() noexcept {
    std::uint32_t expected = kLocked;
    if (!state_.compare_exchange_strong(expected, 0, std::memory_order_release,
                                        std::memory_order_relaxed))
      unlock_slow();
  }

 private:
  friend class CondVar;

  static constexpr std::uint32_t kLocked = 1;  // held
  static constexpr std::uint32_t kQueued = 2;  // waiters_ is not empty

  void lock_contended();
  std::error_code lock_slow(Deadline d) noexcept;
  void unlock_slow() noexcept;
  // relock() takes the Mutex through cancellation and deadline scopes (for
  // CondVar, which must return holding it).
  void relock() noexcept;

  // state_ is kLocked|kQueued bits. While kQueued is set, only code holding
  // lk_ changes it; the fast paths expect 0 (lock) or exactly kLocked (unlock).
  std::atomic<std::uint32_t> state_{0};
  std::atomic<std::uint32_t> lk_{0};  // spin lock word guarding waiters_
  detail::WaitList waiters_;          // parked lockers, oldest first
};

}  // namespace weft
