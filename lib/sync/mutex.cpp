// weft::Mutex. The state word takes the fast paths (one CAS each way); the
// wait list and every change of the state word while someone is queued go
// under the spin lock lk_.
//
// Hand-off: unlock() with waiters keeps the Mutex locked and gives it to the
// oldest waiter that is still waiting (claim() decides the race with its
// timeout or cancellation; one that lost is skipped). A free Mutex therefore
// never has waiters, so newcomers cannot barge past the queue: fairness is
// FIFO once queued. The price is a convoy under heavy contention (the Mutex
// stays held while the next owner is being scheduled), which the short spin
// before queueing softens when the holder is running on another worker.
#include <weft/sync/mutex.hpp>

#include "sync_internal.hpp"

namespace weft {

using detail::lock_word;
using detail::SyncNode;
using detail::unlock_word;

namespace {
// Spin iterations before queueing: about a microsecond or two, the length of
// a short critical section on another core. Longer spins only burn the
// worker (with one worker the holder cannot run while we spin at all).
constexpr int kSpin = 64;
}  // namespace

void Mutex::lock_contended() {
  if (std::error_code ec = lock_slow(no_deadline)) detail::throw_wait_error(ec, "weft::Mutex::lock");
}

std::error_code Mutex::lock_slow(Deadline d) noexcept {
  for (int i = 0; i < kSpin; ++i) {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    if (s == 0 && state_.compare_exchange_weak(s, kLocked, std::memory_order_acquire, std::memory_order_relaxed))
      return {};
    if (s & kQueued) break;  // hand-off goes to the queue: spinning cannot win
    detail::spin_pause();
  }

  SyncNode w;
  lock_word(lk_);
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if (!(s & kLocked)) {
      if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire, std::memory_order_relaxed)) {
        unlock_word(lk_);
        return {};
      }
      continue;
    }
    // Set kQueued before we are visible, so the holder's fast unlock fails and
    // it comes here for the hand-off.
    if ((s & kQueued) ||
        state_.compare_exchange_weak(s, s | kQueued, std::memory_order_relaxed, std::memory_order_relaxed))
      break;
  }
  push_back(waiters_, &w);
  detail::WaitStatus st = detail::park(lk_, waiters_, w, d);
  if (w.claimed()) {
    // unlock_slow() left the Mutex locked for us.
    unlock_word(lk_);
    return {};
  }
  if (!waiters_.head) state_.fetch_and(~kQueued, std::memory_order_relaxed);
  unlock_word(lk_);
  return detail::status_error(st);
}

void Mutex::unlock_slow() noexcept {
  lock_word(lk_);
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  if (!(s & kLocked)) {
    unlock_word(lk_);
    detail::misuse("weft::Mutex::unlock() of a Mutex that is not locked");
  }
  while (SyncNode* w = detail::pop_front(waiters_)) {
    if (w->claim()) {
      // Still locked, now on w's behalf.
      state_.store(waiters_.head ? kLocked | kQueued : kLocked, std::memory_order_relaxed);
      w->resume();
      unlock_word(lk_);
      return;
    }
    // w gave up (deadline, cancellation) and is leaving: try the next one.
  }
  state_.store(0, std::memory_order_release);
  unlock_word(lk_);
}

void Mutex::relock() noexcept {
  if (try_lock()) return;
  detail::WaitMask mask;
  // Masked, the wait ends only when the Mutex is ours, or when a cancel()
  // raced the mask; absorb that and wait again.
  while (lock_slow(no_deadline)) mask.absorb();
}

}  // namespace weft
