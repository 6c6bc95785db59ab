// weft::detail::Waiter: one waiting fiber or thread, for building primitives
// (mutexes, channels, select). No API promise.
//
// Use:
//   lock(primitive);  Waiter w;  enqueue(&w);  unlock(primitive);
//   auto r = w.wait(deadline);            // parks the fiber / blocks the thread
//   lock(primitive);  if (still enqueued) dequeue(&w);  unlock(primitive);
//   if (w.claimed()) -> the event happened (even if r says timed_out/cancelled)
// and on the other side, with the primitive's lock held:
//   if (w->claim()) { hand over; unlock(primitive); w->resume(); }
//   else { /* it gave up: try the next */ }
//
// Rules that keep it safe: claim() only while holding the lock the waiter
// re-takes after waiting, and call resume() exactly once after every claim()
// that succeeded, under that lock or after releasing it. A claimed waiter
// does not return from wait() before resume() is done with it, so the Waiter
// (on the waiter's stack) cannot vanish mid-call. Resuming after the unlock
// is the better habit: a wake-up costs hundreds of nanoseconds (a remote
// queue, perhaps a futex), and other threads would spin on the lock meanwhile.
// Between claim() and resume() the waker must not park or yield: a claimed
// fiber that woke on its own (deadline, cancellation) spins until resume().
// One Waiter may sit in several queues at once (select): the first claim()
// wins and the others fail.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <weft/deadline.hpp>

namespace weft::detail {

enum class WaitStatus { woken, timed_out, cancelled };

class Waiter {
 public:
  // Waiter() prepares the calling fiber (or thread) to wait: wakes aimed at
  // any earlier wait of the same fiber no longer reach it.
  Waiter() noexcept;
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  // wait() parks until wake(), the deadline (the earlier of d and the caller's
  // deadline scope) or, for a fiber, cancellation. Call at most once.
  WaitStatus wait(Deadline d = no_deadline) noexcept;

  // wake() claims the waiter and resumes it; false if it was claimed already
  // or gave up (timed out, cancelled). Any thread, under the primitive's lock.
  bool wake() noexcept {
    if (!claim()) return false;
    resume();
    return true;
  }

  // claim() is the first half of wake(): after it succeeds, hand over what the
  // waiter waits for (a value, a lock), then call resume(), which may wait
  // until the primitive's lock is released.
  bool claim() noexcept;
  void resume() noexcept;

  // claimed() is true once a wake() or claim() succeeded.
  bool claimed() const noexcept { return state_.load(std::memory_order_acquire) >= kClaimed; }

  // in_fiber() tells whether the waiter is a fiber (else a plain thread).
  bool in_fiber() const noexcept { return ctx_ != nullptr; }

  // Free for the primitive's own bookkeeping (intrusive queue links, a slot
  // for a handed-over value, which select branch fired, ...).
  Waiter* next = nullptr;
  Waiter* prev = nullptr;
  void* slot = nullptr;
  int tag = 0;

 private:
  // kWaiting -> kClaimed (claim()) -> kResumed (resume() is done with us),
  // or kWaiting -> kGaveUp (deadline, cancellation).
  static constexpr std::uint32_t kWaiting = 0, kGaveUp = 1, kClaimed = 2, kResumed = 3;
  void await_resumed() const noexcept;
  void* ctx_ = nullptr;  // the fiber's context, or null for a thread
  void* rec_ = nullptr;  // the fiber's record
  std::size_t epoch_ = 0;
  std::atomic<std::uint32_t> state_{kWaiting};  // also the futex word for a thread
};

// check_cancel() throws weft::Cancelled if the calling fiber is cancelled.
void check_cancel();

}  // namespace weft::detail
