// weft::Barrier: all under a spin lock (a barrier is contended by nature, and
// each arrival is a few instructions). A waiter knows its phase; after its
// wait it checks whether that phase has ended, which is the event itself, so
// a waiter that timed out just as the phase ended still reports success and
// never withdraws an arrival that was counted into a completed phase.
#include <weft/sync/barrier.hpp>

#include <stdexcept>

#include "sync_internal.hpp"

namespace weft {

using detail::lock_word;
using detail::SyncNode;
using detail::unlock_word;
using detail::WordGuard;

Barrier::Barrier(std::size_t parties) : parties_(parties) {
  if (parties == 0) throw std::invalid_argument("weft::Barrier needs at least one party");
}

std::size_t Barrier::parties() const noexcept {
  WordGuard g(lk_);
  return parties_;
}

void Barrier::complete_locked() noexcept {
  arrived_ = 0;
  phase_.fetch_add(1, std::memory_order_release);
  detail::wake_all(waiters_);
}

bool Barrier::arrive_and_wait() {
  std::error_code ec;
  bool leader = arrive_and_wait(ec);
  if (ec) detail::throw_wait_error(ec, "weft::Barrier::arrive_and_wait");
  return leader;
}

bool Barrier::arrive_and_wait(std::error_code& ec, Deadline d) noexcept {
  ec.clear();
  SyncNode w;
  lock_word(lk_);
  if (++arrived_ >= parties_) {
    complete_locked();
    unlock_word(lk_);
    return true;
  }
  const std::uint64_t my_phase = phase_.load(std::memory_order_relaxed);
  push_back(waiters_, &w);
  detail::WaitStatus st = detail::park(lk_, waiters_, w, d);
  // Only completion wakes a waiter, so a moved phase is the one success test.
  if (phase_.load(std::memory_order_relaxed) == my_phase) {
    // Still in our phase (so not counted into a completed one): withdraw.
    --arrived_;
    ec = detail::status_error(st);
  }
  unlock_word(lk_);
  return false;
}

void Barrier::arrive_and_drop() noexcept {
  WordGuard g(lk_);
  if (parties_ == 0) detail::misuse("weft::Barrier::arrive_and_drop() with no party left");
  --parties_;
  if (parties_ > 0 && arrived_ >= parties_) complete_locked();
}

}  // namespace weft
