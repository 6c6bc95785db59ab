// weft::Semaphore. Permits and a "someone waits" bit share one word; the fast
// paths are CASes that step aside as soon as anyone waits. Waiters ask for a
// number of permits and are granted whole, oldest first: release() walks the
// queue from the head, giving each waiter its permits while there are enough,
// and stops at the first it cannot satisfy (no overtaking, so a large request
// is not starved by small ones). Permits are deducted by the granter, on the
// waiter's behalf, only once its claim() succeeded.
#include <weft/sync/semaphore.hpp>

#include "sync_internal.hpp"

namespace weft {

using detail::lock_word;
using detail::SyncNode;
using detail::unlock_word;

void Semaphore::acquire_contended(std::uint64_t n) {
  if (std::error_code ec = acquire_slow(n, no_deadline)) detail::throw_wait_error(ec, "weft::Semaphore::acquire");
}

// grant_locked() hands the permits of state s (kWaiters set: the word is
// ours) to the waiters at the head of the queue, then stores what is left.
void Semaphore::grant_locked(std::uint64_t s) noexcept {
  std::uint64_t avail = s >> 1;
  detail::WaitList granted;  // popped and claimed, resumed in queue order
  while (waiters_.head && detail::node(waiters_.head)->amount <= avail) {
    SyncNode* w = detail::pop_front(waiters_);
    if (w->claim()) {
      avail -= w->amount;
      push_back(granted, w);  // popped: the links are ours until we resume it
    }
  }
  state_.store(avail << 1 | (waiters_.head ? kWaiters : 0), std::memory_order_release);
  while (SyncNode* w = detail::pop_front(granted)) w->resume();
}

std::error_code Semaphore::acquire_slow(std::uint64_t n, Deadline d) noexcept {
  if (n > max()) return std::make_error_code(std::errc::invalid_argument);
  SyncNode w;
  w.amount = n;
  lock_word(lk_);
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if (!(s & kWaiters) && (s >> 1) >= n) {
      if (state_.compare_exchange_weak(s, s - (n << 1), std::memory_order_acquire, std::memory_order_relaxed)) {
        unlock_word(lk_);
        return {};
      }
      continue;
    }
    if ((s & kWaiters) ||
        state_.compare_exchange_weak(s, s | kWaiters, std::memory_order_relaxed, std::memory_order_relaxed))
      break;
  }
  push_back(waiters_, &w);
  detail::WaitStatus st = detail::park(lk_, waiters_, w, d);
  if (!w.claimed()) {
    // We may have been the head that held back smaller requests behind us:
    // let the permits on hand flow to them now. (Without kWaiters the queue
    // is empty, and the word is not ours to store.)
    std::uint64_t s2 = state_.load(std::memory_order_relaxed);
    if (s2 & kWaiters) grant_locked(s2);
  }
  unlock_word(lk_);
  return w.claimed() ? std::error_code() : detail::status_error(st);
}

void Semaphore::release_slow(std::uint64_t n) noexcept {
  lock_word(lk_);
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if (n > max() - (s >> 1)) {
      unlock_word(lk_);
      detail::misuse("weft::Semaphore::release() past Semaphore::max() permits");
    }
    if (s & kWaiters) {
      grant_locked(s + (n << 1));
      break;
    }
    // Nobody queued after all: the fast paths may race us.
    if (state_.compare_exchange_weak(s, s + (n << 1), std::memory_order_release, std::memory_order_relaxed)) break;
  }
  unlock_word(lk_);
}

}  // namespace weft
