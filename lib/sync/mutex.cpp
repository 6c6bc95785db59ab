// weft::Mutex. The state word takes the fast paths (a CAS to lock, one
// atomic subtraction to unlock); the wait list, and the kQueued, kWoken and
// kStarving bits, change only under the spin lock lk_ (by CAS: lockers that
// barge and unlockers change kLocked without it).
//
// As Go's sync.Mutex, with a shorter fuse.
// unlock() frees the Mutex; if fibers are queued and none is already woken,
// it wakes the oldest, which then competes for it with fibers that are
// running (they may barge in: a fiber that unlocks and locks again in a loop
// keeps its worker busy instead of convoying through a wake-up per
// acquisition). While one woken waiter is on its way (kWoken), unlock() wakes
// nobody else and costs one atomic subtraction. The Mutex becomes owed to
// that waiter (kStarving: newcomers queue instead of barging) when it lost
// the race (it goes back to the head of the queue, and the next unlock()
// hands the Mutex to it), or when others kept taking the Mutex for kFuseNs
// after it was woken, before it even ran (its worker busy with a fiber that
// relocks in a loop, or off its core): the next locker then queues instead of
// barging and leaves the Mutex to that waiter alone. So a woken waiter loses
// at most one race.

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

bool Mutex::fuse_blown() const noexcept {
  return barges_.load(std::memory_order_relaxed) % kFuseCheck == 0 &&
         detail::steady_ns() - woken_at_.load(std::memory_order_relaxed) >= kFuseNs;
}

std::error_code Mutex::lock_slow(Deadline d) noexcept {
  // One attempt to barge in always (the Mutex may have been freed while we
  // came here, and taking it costs less than any queueing); more only where
  // spinning can pay. A locker that finds the fuse blown queues instead.
  int spins = -1;  // decided after the first attempt
  for (int i = 0;; ++i) {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    if (!(s & (kLocked | kStarving))) {
      if ((s & kWoken) && fuse_blown()) break;
      if (state_.compare_exchange_weak(s, s | kLocked, std::memory_order_acquire, std::memory_order_relaxed)) {
        if (s & kWoken) note_barge();
        return {};
      }
    } else if (s & kStarving) {
      break;  // owed to a waiter: spinning cannot win
    }
    if (spins < 0) spins = detail::spin_may_pay() ? kSpin : 0;
    if (i >= spins) break;
    detail::spin_pause();
  }

  // front: we were woken to compete and lost; we keep our place at the head.
  bool front = false;
  lock_word(lk_);
  for (;;) {
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      // A newcomer may take a free Mutex unless it is owed, or is about to be
      // (the fuse); the woken waiter (the one it is owed to) may take it
      // either way, and pays the debt.
      const bool defer = !front && (s & kWoken) && fuse_blown();
      if (!(s & kLocked) && (front || !(s & kStarving)) && !defer) {
        std::uint32_t ns = front ? (s | kLocked) & ~(kWoken | kStarving) : s | kLocked;
        if (state_.compare_exchange_weak(s, ns, std::memory_order_acquire, std::memory_order_relaxed)) {
          if (!front && (s & kWoken)) note_barge();
          unlock_word(lk_);
          return {};
        }
        continue;
      }
      // Queue. Set kQueued before we are visible, so that the holder's unlock
      // comes to unlock_slow(); a woken waiter that lost sets kStarving (and
      // the next unlock hands it the Mutex), as does a newcomer that found the
      // fuse blown (the woken waiter then finds the Mutex kept for it).
      std::uint32_t ns = front ? ((s | kQueued | kStarving) & ~kWoken) : (s | kQueued | (defer ? kStarving : 0));
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
        unlock_word(lk_);  // unlock_slow() locked the Mutex for us
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

void Mutex::unlock_slow(std::uint32_t was) noexcept {
  if (!(was & kLocked)) detail::misuse("weft::Mutex::unlock() of a Mutex that is not locked");
  const std::uint32_t now = was - kLocked;
  // Nobody queued, or a woken waiter is on its way: nothing to do.
  if (!(now & kQueued) || (now & kWoken)) return;
  lock_word(lk_);
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  // Someone took the Mutex meanwhile (its unlock will wake), a waiter is
  // already woken, or the queue emptied: nothing to do.
  if ((s & (kLocked | kWoken)) || !(s & kQueued)) {
    unlock_word(lk_);
    return;
  }
  SyncNode* w;
  while ((w = detail::pop_front(waiters_)) && !w->claim()) {
    // w gave up (deadline, cancellation) and is leaving
  }
  const std::uint32_t queued = waiters_.head ? kQueued : 0;
  if (w) {
    // The fuse of the wake-up below (set before the CAS publishes kWoken).
    barges_.store(0, std::memory_order_relaxed);
    woken_at_.store(detail::steady_ns(), std::memory_order_relaxed);
  }
  bool hand;
  for (;;) {
    // Past this point w is ours to resume whatever the word does: a barger
    // may still lock the Mutex between the load and the CAS.
    hand = w && (s & kStarving) && !(s & kLocked);
    std::uint32_t ns;
    if (!w) {
      ns = s & ~(kQueued | kStarving);
    } else if (hand) {
      // Owed to w: lock it on w's behalf, and the debt is paid. kStarving
      // keeps bargers out meanwhile.
      ns = (s & ~(kStarving | kQueued)) | kLocked | queued;
    } else {
      // w is woken to compete for the Mutex (a barger may take it first; w
      // then finds it taken and queues at the head, owed).
      ns = (s & ~kQueued) | queued | kWoken;
    }
    if (state_.compare_exchange_weak(s, ns, std::memory_order_release, std::memory_order_relaxed)) break;
  }
  if (!w) {
    unlock_word(lk_);
    return;
  }
  if (hand) w->handed = true;
  // Resumed outside lk_: the wake-up may cost a remote queue or a futex,
  // and w's first act is to take lk_ again.
  unlock_word(lk_);
  w->resume();
}

void Mutex::relock() noexcept {
  if (try_lock()) return;
  detail::WaitMask mask;
  // Masked, the wait ends only when the Mutex is ours, or when a cancel()
  // raced the mask; absorb that and wait again.
  while (lock_slow(no_deadline)) mask.absorb();
}

}  // namespace weft
