// weft::SharedMutex, phase-fair. The state word holds the reader count, the
// writer bit and a "someone is queued" bit; the fast paths are single CASes
// that fail as soon as anyone is queued, after which every change happens
// under lk_. Readers and writers queue on separate lists:
//   - a writer releasing the lock admits every queued reader at once (one
//     reader phase), else hands it to the oldest writer;
//   - the last reader out hands it to the oldest writer;
//   - a newcomer reads only when no writer holds or waits.
// Invariant (under lk_): if a list is not empty, the lock is held, so some
// release will come and grant it. A writer that gives up may be the only
// thing that held queued readers back: it admits them itself.
#include <weft/sync/shared_mutex.hpp>

#include "sync_internal.hpp"

namespace weft {

using detail::lock_word;
using detail::SyncNode;
using detail::unlock_word;

void SharedMutex::lock() {
  if (try_lock()) return;
  if (std::error_code ec = lock_slow(no_deadline)) detail::throw_wait_error(ec, "weft::SharedMutex::lock");
}

bool SharedMutex::lock(std::error_code& ec, Deadline d) noexcept {
  ec = try_lock() ? std::error_code() : lock_slow(d);
  return !ec;
}

void SharedMutex::lock_shared() {
  if (try_lock_shared()) return;
  if (std::error_code ec = lock_shared_slow(no_deadline))
    detail::throw_wait_error(ec, "weft::SharedMutex::lock_shared");
}

bool SharedMutex::lock_shared(std::error_code& ec, Deadline d) noexcept {
  ec = try_lock_shared() ? std::error_code() : lock_shared_slow(d);
  return !ec;
}

std::uint64_t SharedMutex::waiters_bit() const noexcept {
  return readers_.head || writers_.head ? kWaiters : 0;
}

// admit_readers_locked() lets every queued reader in, on top of `held`
// readers already inside; returns how many came in (those that gave up are
// dropped). Stores the new state unless nobody holds the lock after all.
// Lock held; the caller owns the state word (kWaiters set, or a writer held).
std::uint64_t SharedMutex::admit_readers_locked(std::uint64_t held) noexcept {
  detail::WaitList granted;  // popped and claimed, resumed in queue order
  std::uint64_t n = 0;
  while (SyncNode* r = detail::pop_front(readers_)) {
    if (r->claim()) {
      push_back(granted, r);  // popped: the links are ours until we resume it
      ++n;
    }
  }
  if (held + n == 0) return 0;
  state_.store((held + n) * kReader | waiters_bit(), std::memory_order_release);
  // The readers re-take lk_ before returning, so the state is in place first.
  while (SyncNode* r = detail::pop_front(granted)) r->resume();
  return n;
}

// grant_locked() gives a lock that nobody holds any more to the waiters:
// readers first after a writer (phase-fair), a writer first after readers.
// Lock held; the caller owns the state word.
void SharedMutex::grant_locked(bool readers_first) noexcept {
  if (readers_first && readers_.head && admit_readers_locked(0)) return;
  while (SyncNode* w = detail::pop_front(writers_)) {
    if (w->claim()) {
      state_.store(kWriter | waiters_bit(), std::memory_order_release);
      w->resume();
      return;
    }
  }
  if (readers_.head && admit_readers_locked(0)) return;
  state_.store(0, std::memory_order_release);  // both lists are empty now
}

std::error_code SharedMutex::lock_slow(Deadline d) noexcept {
  SyncNode w;
  lock_word(lk_);
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if (s == 0) {
      if (state_.compare_exchange_weak(s, kWriter, std::memory_order_acquire, std::memory_order_relaxed)) {
        unlock_word(lk_);
        return {};
      }
      continue;
    }
    if ((s & kWaiters) ||
        state_.compare_exchange_weak(s, s | kWaiters, std::memory_order_relaxed, std::memory_order_relaxed))
      break;
  }
  push_back(writers_, &w);
  detail::WaitStatus st = detail::park(lk_, writers_, w, d);
  if (!w.claimed()) {
    // kWaiters was set while we were queued, so the word is ours here.
    s = state_.load(std::memory_order_relaxed);
    // If we were what held queued readers back, they join the readers inside.
    if (!writers_.head && !(s & kWriter) && readers_.head) admit_readers_locked(s / kReader);
    if (!waiters_bit()) state_.fetch_and(~kWaiters, std::memory_order_relaxed);
  }
  unlock_word(lk_);
  return w.claimed() ? std::error_code() : detail::status_error(st);
}

std::error_code SharedMutex::lock_shared_slow(Deadline d) noexcept {
  SyncNode w;
  lock_word(lk_);
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if (!(s & (kWriter | kWaiters))) {
      if (state_.compare_exchange_weak(s, s + kReader, std::memory_order_acquire, std::memory_order_relaxed)) {
        unlock_word(lk_);
        return {};
      }
      continue;
    }
    if ((s & kWaiters) ||
        state_.compare_exchange_weak(s, s | kWaiters, std::memory_order_relaxed, std::memory_order_relaxed))
      break;
  }
  push_back(readers_, &w);
  detail::WaitStatus st = detail::park(lk_, readers_, w, d);
  if (!w.claimed() && !waiters_bit()) state_.fetch_and(~kWaiters, std::memory_order_relaxed);
  unlock_word(lk_);
  return w.claimed() ? std::error_code() : detail::status_error(st);
}

void SharedMutex::unlock_slow() noexcept {
  lock_word(lk_);
  if (!(state_.load(std::memory_order_relaxed) & kWriter)) {
    unlock_word(lk_);
    detail::misuse("weft::SharedMutex::unlock() without holding it exclusively");
  }
  // We hold it exclusively, so no fast path can change the word.
  grant_locked(/*readers_first=*/true);
  unlock_word(lk_);
}

void SharedMutex::unlock_shared_slow() noexcept {
  lock_word(lk_);
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if (s < kReader || (s & kWriter)) {
      unlock_word(lk_);
      detail::misuse("weft::SharedMutex::unlock_shared() without holding it shared");
    }
    if ((s & kWaiters) && s / kReader == 1) {
      // The last reader, with waiters: with kWaiters set the word is ours.
      grant_locked(/*readers_first=*/false);
      break;
    }
    // Other readers remain (or nobody waits any more): fast paths may race us.
    if (state_.compare_exchange_weak(s, s - kReader, std::memory_order_release, std::memory_order_relaxed)) break;
  }
  unlock_word(lk_);
}

}  // namespace weft
