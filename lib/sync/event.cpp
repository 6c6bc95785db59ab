// weft::Event. set() is one fetch_or; only when it finds kWaiters does it take
// the spin lock to wake the queue. A waiter sets kWaiters under the lock
// before queueing, and only if the event is not set: either set() saw kWaiters
// (and will wake it, after taking the lock the waiter held while queueing),
// or the waiter saw kSet and returns. Popped by set() means success.
#include <weft/sync/event.hpp>

#include "sync_internal.hpp"

namespace weft {

using detail::lock_word;
using detail::SyncNode;
using detail::unlock_word;
using detail::WordGuard;

void Event::wake_waiters() noexcept {
  WordGuard g(lk_);
  state_.fetch_and(~kWaiters, std::memory_order_relaxed);
  detail::wake_all(waiters_);
}

void Event::wait() {
  if (is_set()) return;
  if (std::error_code ec = wait_slow(no_deadline)) detail::throw_wait_error(ec, "weft::Event::wait");
}

bool Event::wait(std::error_code& ec, Deadline d) noexcept {
  ec = is_set() ? std::error_code() : wait_slow(d);
  return !ec;
}

std::error_code Event::wait_slow(Deadline d) noexcept {
  SyncNode w;
  lock_word(lk_);
  std::uint32_t s = state_.load(std::memory_order_acquire);
  do {
    if (s & kSet) {
      unlock_word(lk_);
      return {};
    }
  } while (!(s & kWaiters) &&
           !state_.compare_exchange_weak(s, s | kWaiters, std::memory_order_acq_rel, std::memory_order_acquire));
  push_back(waiters_, &w);
  detail::WaitStatus st = detail::park(lk_, waiters_, w, d);
  if (!w.popped && !waiters_.head) state_.fetch_and(~kWaiters, std::memory_order_relaxed);
  unlock_word(lk_);
  return w.popped ? std::error_code() : detail::status_error(st);
}

}  // namespace weft
