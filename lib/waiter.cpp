// Waiter for fibers (park/wake with an epoch) and plain threads (futex on the
// state word). The state word decides races between a waker and a timeout or
// cancellation: whoever moves it from kWaiting wins.
#include <weft/detail/waiter.hpp>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include <weft/errors.hpp>
#include <weft/scope.hpp>

#include "fiber_record.hpp"
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
  } else {
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&state_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }
}

WaitStatus Waiter::wait(Deadline d) noexcept {
  if (ctx_) {
    auto* rec = static_cast<FiberRecord*>(rec_);
    for (;;) {
      WaitResult r = wait_until(rec, epoch_, d);
      if (claimed()) {
        // wake() claims before it resumes: if our own timer or a cancel won the
        // epoch race, the claimer's resume() failed, and we are awake anyway.
        return WaitStatus::woken;
      }
      std::uint32_t expected = kWaiting;
      if (r != WaitResult::woken && state_.compare_exchange_strong(expected, kGaveUp, std::memory_order_acq_rel))
        return r == WaitResult::cancelled ? WaitStatus::cancelled : WaitStatus::timed_out;
      if (claimed()) return WaitStatus::woken;
      // Woken with nothing claimed (a stale wake cannot happen, but be safe):
      // wait again with a fresh epoch.
      epoch_ = new_epoch(rec->ctx);
    }
  }
  d = std::min(d, current_deadline());
  for (;;) {
    if (state_.load(std::memory_order_acquire) == kClaimed) return WaitStatus::woken;
    timespec ts;
    timespec* tsp = nullptr;
    if (d != no_deadline) {
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d.time_since_epoch()).count();
      ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
      ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
      tsp = &ts;
      if (Clock::now() >= d) {
        std::uint32_t expected = kWaiting;
        if (state_.compare_exchange_strong(expected, kGaveUp, std::memory_order_acq_rel)) return WaitStatus::timed_out;
        return WaitStatus::woken;
      }
    }
    // Absolute CLOCK_MONOTONIC deadline (steady_clock), like the worker parker.
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&state_), FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, kWaiting,
            tsp, nullptr, FUTEX_BITSET_MATCH_ANY);
  }
}

void check_cancel() {
  if (!current_worker()) return;
  if (FiberRecord* rec = current_record(); rec && rec->cancelled.load(std::memory_order_relaxed)) throw Cancelled();
}

}  // namespace weft::detail
