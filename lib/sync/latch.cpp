// weft::Latch and weft::WaitGroup: an atomic count, and a queue of waiters
// that whoever brings the count to zero wakes under the spin lock. A waiter
// checks the count under that lock before it queues, so a zero reached before
// it queued is seen, and one reached after finds it queued. After its wait, a
// waiter that was popped saw its zero, even if its own wait timed out at the
// same moment; one still queued gave up and unlinks itself.
#include <weft/sync/latch.hpp>

#include <stdexcept>

#include "sync_internal.hpp"

namespace weft {

using detail::lock_word;
using detail::SyncNode;
using detail::unlock_word;
using detail::WordGuard;

namespace {

// wait_for_zero() queues on l unless zero_now() holds under lk; see above.
template <class ZeroNow>
std::error_code wait_for_zero(std::atomic<std::uint32_t>& lk, detail::WaitList& l, Deadline d,
                              ZeroNow zero_now) noexcept {
  SyncNode w;
  lock_word(lk);
  if (zero_now()) {
    unlock_word(lk);
    return {};
  }
  push_back(l, &w);
  detail::WaitStatus st = detail::park(lk, l, w, d);
  unlock_word(lk);
  return w.popped ? std::error_code() : detail::status_error(st);
}

}  // namespace

void Latch::count_down(std::size_t n) {
  std::size_t c = count_.load(std::memory_order_relaxed);
  do {
    if (n > c) throw std::logic_error("weft::Latch::count_down() below zero");
  } while (!count_.compare_exchange_weak(c, c - n, std::memory_order_acq_rel, std::memory_order_relaxed));
  if (c == n && n != 0) {
    WordGuard g(lk_);
    detail::wake_all(waiters_);
  }
}

void Latch::wait() {
  if (try_wait()) return;
  if (std::error_code ec = wait_slow(no_deadline)) detail::throw_wait_error(ec, "weft::Latch::wait");
}

bool Latch::wait(std::error_code& ec, Deadline d) noexcept {
  ec = try_wait() ? std::error_code() : wait_slow(d);
  return !ec;
}

std::error_code Latch::wait_slow(Deadline d) noexcept {
  return wait_for_zero(lk_, waiters_, d, [this] { return try_wait(); });
}

void WaitGroup::add(std::int64_t delta) {
  if (delta > 0) {
    // Cannot reach zero: one fetch_add.
    count_.fetch_add(delta, std::memory_order_relaxed);
    return;
  }
  std::int64_t c = count_.load(std::memory_order_relaxed);
  do {
    if (c + delta < 0) throw std::logic_error("weft::WaitGroup: negative count (more done() than add())");
  } while (!count_.compare_exchange_weak(c, c + delta, std::memory_order_acq_rel, std::memory_order_relaxed));
  if (c + delta == 0 && delta != 0) {
    WordGuard g(lk_);
    detail::wake_all(waiters_);
  }
}

void WaitGroup::wait() {
  if (count() == 0) return;
  if (std::error_code ec = wait_slow(no_deadline)) detail::throw_wait_error(ec, "weft::WaitGroup::wait");
}

bool WaitGroup::wait(std::error_code& ec, Deadline d) noexcept {
  ec = count() == 0 ? std::error_code() : wait_slow(d);
  return !ec;
}

std::error_code WaitGroup::wait_slow(Deadline d) noexcept {
  return wait_for_zero(lk_, waiters_, d, [this] { return count() == 0; });
}

}  // namespace weft
