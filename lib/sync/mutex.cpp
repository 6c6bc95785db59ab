// weft::Mutex. The state word takes the fast paths (one CAS each way); the
// wait list and every change of the state word while someone is queued go
// under the spin lock lk_.
//
// As Go's sync.Mutex, with a shorter fuse.
// Normally unlock() frees the Mutex and wakes the oldest waiter, which then
// competes for it with fibers that are running (they may barge in: a fiber
// that unlocks and locks again in a loop keeps its worker busy instead of
// convoying through a wake-up per acquisition). While one woken waiter is on
// its way (kWoken), unlock() wakes nobody else. The Mutex becomes owed to
// that waiter (kStarving: newcomers queue instead of barging) when it lost
// the race (it goes back to the head of the queue, and the next unlock()
// hands the Mutex to it), or when others kept taking the Mutex for kFuseNs
// after it was woken, before it even ran (its worker busy with a fiber that
// relocks in a loop, or off its core): unlock() then leaves the Mutex free
// for it alone. So a woken waiter loses at most one race.

#include <weft/sync/mutex.hpp>

#include <chrono>

#include "../steady_ns.hpp"
#include "sync_internal.hpp"

namespace weft {

using detail::lock_word;
using detail::SyncNode;
using detail::unlock_word;

namespace {
// Spin iterations before queueing: about a microsecond or two, the length of
// a short critical section on another core. Longer spins only burn the
// worker. No spin at all where it cannot pay (detail::spin_may_pay()).
constexpr int kSpin = 64;

// How long others may keep taking the Mutex while a woken waiter has not run
// yet, before it is kept for that waiter: long enough that a fiber relocking
// in a loop runs on for hundreds of acquisitions (each time the Mutex is kept
// the next locker parks and waits for a switch), short enough to be no
// visible delay. The clock is read only every kFuseCheck acquisitions.
constexpr std::int64_t kFuseNs = 50'000;
constexpr std::uint32_t kFuseCheck = 16;

}  // namespace

void Mutex::lock_contended() {
  if (std::error_code ec = lock_slow(no_deadline)) detail::throw_wait_error(ec, "weft::Mutex::lock");
}

std::error_code Mutex::lock_slow(Deadline d) noexcept {
  // One attempt to barge in always (the Mutex may have been freed while we
  // came here, and taking it costs less than any queueing); more only where
  // spinning can pay.
  const int spins = detail::spin_may_pay() ? kSpin : 0;
  for (int i = 0;; ++i) {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    if (!(s & (kLocked | kStarving)) &&
        state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire, std::memory_order_relaxed)) {
      if (s & kWoken) note_barge();
      return {};
    }
    if ((s & kStarving) || i >= spins) break;  // owed to a waiter: spinning cannot win
    detail::spin_pause();
  }

  // front: we were woken to compete and lost; we keep our place at the head.
  bool front = false;
  lock_word(lk_);
  for (;;) {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      // A newcomer may take a free Mutex unless it is owed; the woken waiter
      // (the one it is owed to) may take it either way, and pays the debt.
      if (!(s & kLocked) && (front || !(s & kStarving))) {
        std::uint32_t ns = front ? (s | kLocked) & ~(kWoken | kStarving) : s | kLocked;
        if (state_.compare_exchange_weak(s, ns, std::memory_order_acquire, std::memory_order_relaxed)) {
          if (!front && (s & kWoken)) note_barge();
          unlock_word(lk_);
          return {};
        }
        continue;
      }
      // Queue. Set kQueued before we are visible, so the holder's fast unlock
      // fails and it comes here; a woken waiter that lost also sets kStarving.
      std::uint32_t ns = front ? ((s | kQueued | kStarving) & ~kWoken) : (s | kQueued);
      if (ns == s ||
          state_.compare_exchange_weak(s, ns, std::memory_order_relaxed, std::memory_order_relaxed))
        break;
    }
    SyncNode w;
    if (front) {
      detail::push_front(waiters_, &w);
    } else {
      detail::push_back(waiters_, &w);
    }
    detail::WaitStatus st = detail::park(lk_, waiters_, w, d);
    if (w.claimed()) {
      if (w.handed) {
        unlock_word(lk_);  // unlock_slow() left the Mutex locked for us
        return {};
      }
      front = true;  // woken to compete: try again, lk_ held
      continue;
    }
    if (!waiters_.head) state_.fetch_and(~(kQueued | kStarving), std::memory_order_relaxed);
    unlock_word(lk_);
    return detail::status_error(st);
  }
}

bool Mutex::fuse_blown() const noexcept {
  return barges_.load(std::memory_order_relaxed) % kFuseCheck == 0 &&
         detail::steady_ns() - woken_at_.load(std::memory_order_relaxed) >= kFuseNs;
}

void Mutex::unlock_slow() noexcept {
  // The common contended case needs no lk_: a woken waiter is on its way and
  // the fuse has not blown, so unlock only frees the Mutex. Lockers change
  // the word by CAS (queueing under lk_ included) while it is locked, so a
  // CAS here cannot undo theirs; the plain stores below are ours alone
  // because we hold kLocked.
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  while ((s & (kLocked | kWoken | kStarving)) == (kLocked | kWoken) && !fuse_blown()) {
    if (state_.compare_exchange_weak(s, s & ~kLocked, std::memory_order_release, std::memory_order_relaxed))
      return;
  }
  lock_word(lk_);
  s = state_.load(std::memory_order_relaxed);
  if (!(s & kLocked)) {
    unlock_word(lk_);
    detail::misuse("weft::Mutex::unlock() of a Mutex that is not locked");
  }
  // While we hold kLocked, only code holding lk_ changes the state word
  // (lockers' CASes need the Mutex free), so plain stores are safe here.
  const bool owed = s & kStarving;
  if (!owed && (s & kWoken)) {
    // The woken waiter is still on its way: it competes, or, once others
    // went first for kFuseNs, finds the Mutex kept free for it.
    std::uint32_t ns = s & ~kLocked;
    if (fuse_blown()) ns |= kStarving;
    state_.store(ns, std::memory_order_release);
    unlock_word(lk_);
    return;
  }
  while (SyncNode* w = detail::pop_front(waiters_)) {
    if (!w->claim()) continue;  // w gave up (deadline, cancellation) and is leaving
    const std::uint32_t queued = waiters_.head ? kQueued : 0;
    if (owed) {
      // Still locked, now on w's behalf; the debt is paid.
      w->handed = true;
      state_.store(kLocked | queued, std::memory_order_relaxed);
    } else {
      // Free, and w is woken to compete for it.
      barges_.store(0, std::memory_order_relaxed);
      woken_at_.store(detail::steady_ns(), std::memory_order_relaxed);
      state_.store(kWoken | queued, std::memory_order_release);
    }
    // Resumed outside lk_: the wake-up may cost a remote queue or a futex,
    // and w's first act is to take lk_ again.
    unlock_word(lk_);
    w->resume();
    return;
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
