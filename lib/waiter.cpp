// Waiter for fibers (park/wake with an epoch) and plain threads (futex on the
// state word). The state word decides races between a waker and a timeout or
// cancellation: whoever moves it from kWaiting wins.
#include <weft/detail/waiter.hpp>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include <weft/errors.hpp>
#include <weft/scope.hpp>

#include "fiber_record.hpp"
#include "spin_lock.hpp"
#include "wait.hpp"
#include "worker.hpp"

namespace weft::detail {

Waiter::Waiter() noexcept {
  if (current_worker()) {
    if (FiberRecord* rec = current_record()) {
      ctx_ = rec->ctx;
      rec_ = rec;
      epoch_ = new_epoch(rec->ctx);
    }
  }
}

bool Waiter::claim() noexcept {
  std::uint32_t expected = kWaiting;
  return state_.compare_exchange_strong(expected, kClaimed, std::memory_order_acq_rel);
}

void Waiter::resume() noexcept {
  if (ctx_) {
    ::weft::detail::wake(static_cast<Ctx*>(ctx_), epoch_);
    // Our last touch: the fiber may return (and this Waiter vanish) now.
    state_.store(kResumed, std::memory_order_release);
  } else {
    auto* word = reinterpret_cast<std::uint32_t*>(&state_);
    state_.store(kResumed, std::memory_order_release);
    // The thread may see kResumed and be gone before this call: a wake of a
    // word nobody waits on is a no-op, and a later waiter on the same stack
    // address takes it as spurious (every futex wait here loops).
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }
}

// await_resumed() is for a claimed waiter that is running: its waker may
// still be inside resume(), touching this Waiter. That takes nanoseconds,
// unless the waker's thread lost its CPU in between.
void Waiter::await_resumed() const noexcept {
  for (unsigned i = 0; state_.load(std::memory_order_acquire) != kResumed; ++i) {
    if (i < 256) {
      spin_pause();
    } else {
      sched_yield();
    }
  }
}

WaitStatus Waiter::wait(Deadline d) noexcept {
  if (ctx_) {
    auto* rec = static_cast<FiberRecord*>(rec_);
    for (;;) {
      WaitResult r = wait_until(rec, epoch_, d);
      // Giving up fails once claimed: the event then happened, even if our
      // own timer or a cancel won the race to wake us (the claimer's wake
      // then does nothing).
      std::uint32_t expected = kWaiting;
      if (r != WaitResult::woken && state_.compare_exchange_strong(expected, kGaveUp, std::memory_order_acq_rel))
        return r == WaitResult::cancelled ? WaitStatus::cancelled : WaitStatus::timed_out;
      if (claimed()) {
        await_resumed();
        return WaitStatus::woken;
      }
      // Woken with nothing claimed (a stale wake cannot happen, but be safe):
      // wait again with a fresh epoch.
      epoch_ = new_epoch(rec->ctx);
    }
  }
  d = std::min(d, current_deadline());
  for (;;) {
    const std::uint32_t s = state_.load(std::memory_order_acquire);
    if (s == kResumed) return WaitStatus::woken;
    timespec ts;
    timespec* tsp = nullptr;
    // Once claimed, no deadline applies: resume() is on its way.
    if (s == kWaiting && d != no_deadline) {
      if (Clock::now() >= d) {
        std::uint32_t expected = kWaiting;
        if (state_.compare_exchange_strong(expected, kGaveUp, std::memory_order_acq_rel)) return WaitStatus::timed_out;
        continue;  // claimed meanwhile
      }
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d.time_since_epoch()).count();
      ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
      ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
      tsp = &ts;
    }
    // Absolute CLOCK_MONOTONIC deadline (steady_clock), like the worker parker.
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&state_), FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, s, tsp,
            nullptr, FUTEX_BITSET_MATCH_ANY);
  }
}

void check_cancel() {
  if (!current_worker()) return;
  if (FiberRecord* rec = current_record(); rec && rec->cancelled.load(std::memory_order_relaxed)) throw Cancelled();
}

}  // namespace weft::detail
