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
// A fiber that finds the Mutex taken tries once more, then spins briefly (the
// holder may be about to release it on another worker) unless its worker has
// other fibers ready or is its runtime's only worker, then queues and parks.
// unlock() frees the Mutex (one atomic operation while a woken waiter is on
// its way) and wakes the oldest waiter, which competes with fibers that are
// running: those may take it first (throughput: a running fiber does not wait
// for a parked one to be scheduled). A woken waiter that loses that race, or
// that others kept going past for 50 us before it could run, is owed the
// Mutex: newcomers queue, and it gets the Mutex next (Go's starvation mode,
// entered at the first loss instead of after 1 ms). So no waiter starves:
// once queued, a fiber waits for the waiters ahead of it, each passed by at
// most one other fiber unless its worker could not run it for 50 us. On a
// plain thread the same calls block that thread.
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

  // unlock() releases the Mutex and wakes the oldest waiter, or hands the
  // Mutex to it when it is owed (see above).
  void unlock() noexcept {
    const std::uint32_t was = state_.fetch_sub(kLocked, std::memory_order_release);
    if (was != kLocked) unlock_slow(was);
  }

 private:
  friend class CondVar;

  static constexpr std::uint32_t kLocked = 1;  // held
  static constexpr std::uint32_t kQueued = 2;    // waiters_ is not empty
  static constexpr std::uint32_t kWoken = 4;     // a woken waiter is on its way to compete
  static constexpr std::uint32_t kStarving = 8;  // owed to the woken waiter: nobody barges

  void lock_contended();
  std::error_code lock_slow(Deadline d) noexcept;
  // unlock_slow() is unlock() past the subtraction, given the word before it.
  void unlock_slow(std::uint32_t was) noexcept;
  // note_barge() counts one acquisition past the woken waiter. A plain
  // read-modify-write: a count lost to a race only delays the fuse.
  void note_barge() noexcept {
    barges_.store(barges_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // fuse_blown() is true when others kept taking the Mutex for kFuseNs since
  // the waiter was woken (the clock is read every kFuseCheck barges only).
  bool fuse_blown() const noexcept;
  // relock() takes the Mutex through cancellation and deadline scopes (for
  // CondVar, which must return holding it).
  void relock() noexcept;

  // state_ holds the k* bits. kQueued, kWoken and kStarving change only under
  // lk_ (by CAS); kLocked changes by CAS to lock and by subtraction to unlock.
  std::atomic<std::uint32_t> state_{0};
  std::atomic<std::uint32_t> lk_{0};  // spin lock word guarding waiters_
  // barges_ counts acquisitions by others since the last waiter was woken,
  // at woken_at_ (steady clock, ns; written under lk_, read anywhere).
  std::atomic<std::uint32_t> barges_{0};
  std::atomic<std::int64_t> woken_at_{0};
  detail::WaitList waiters_;  // parked lockers, oldest first
};

}  // namespace weft
