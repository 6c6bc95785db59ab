// See wait.hpp for the protocol.
#include "wait.hpp"

#include <algorithm>

#include <weft/errors.hpp>

#include "runtime_core.hpp"
#include "spin_lock.hpp"
#include "timers.hpp"
#include "worker.hpp"

namespace weft::detail {

namespace {
using Rec = FiberRecord;

// movable() says whether rec parks detached (wait.hpp). Parker and waker
// decide alike: both inputs are fixed while the runtime runs.
bool movable(const Rec* rec) noexcept { return rec && !rec->home && rec->rt->may_steal(); }

// consume_claim() is for a fiber whose own attempt to spend its epoch failed:
// a waker won, and is about to mark the claim (or has); take the mark so the
// next wait starts clean. Never long: the waker marks right after winning.
void consume_claim(Rec* rec) noexcept {
  while (rec->park_state.load(std::memory_order_acquire) != Rec::kWoken) spin_pause();
  rec->park_state.store(Rec::kRunning, std::memory_order_relaxed);
}

// hand_over() gives a woken, fully parked fiber to the waking worker (its
// LIFO slot: the fiber will likely use what the waker just made). A waker
// that is no worker of that runtime (the reactor thread, the blocking pool)
// gives it back to the worker it parked on, which takes all such fibers at
// its next pick, in order; or, if that worker is stuck, to the injection
// queue, where any worker (a spare) takes it.
void hand_over(Rec* rec, bool to_waker) noexcept {
  Worker* w = current_worker();
  if (to_waker && w && w->rt == rec->rt) {
    w->take_woken(rec->ctx);
    return;
  }
  Worker* home = rec->parked_on.load(std::memory_order_relaxed);
  if (home && !home->stuck()) {
    home->hand_off(rec);
  } else {
    rec->rt->inject(rec->ctx);
  }
}

// absorb_lost_race() is for a fiber that failed to spend its own epoch: a
// waker won, so consume what it did.
void absorb_lost_race(Ctx* ctx) noexcept {
  Rec* rec = record_of(ctx);
  if (movable(rec)) {
    consume_claim(rec);
  } else {
    ctx->suspend();  // the waker scheduled us: suspend once to consume that
  }
}
}  // namespace

bool wake(Ctx* ctx, std::size_t epoch, bool to_waker) noexcept {
  std::size_t expected = epoch;
  if (!ctx->waker_epoch_.compare_exchange_strong(expected, epoch + 1, std::memory_order_acq_rel)) return false;
  Rec* rec = record_of(ctx);
  if (movable(rec)) {
    // Not parked yet: the fiber finds the mark when it tries to park.
    if (rec->park_state.exchange(Rec::kWoken, std::memory_order_acq_rel) != Rec::kParked) return true;
    if (rec->park_lock.try_lock()) {
      // The lock is free, so the switch away is complete: the fiber is ours.
      rec->park_lock.unlock();
      hand_over(rec, to_waker);
    } else {
      // Still switching away on its worker: that worker takes it after.
      rec->parked_on.load(std::memory_order_relaxed)->hand_off(rec);
    }
    return true;
  }
  boost::fibers::scheduler* s = ctx->get_scheduler();
  Worker* w = current_worker();
  // Boost's own waker asks context::active(), which would build a scheduler on
  // a plain thread; a worker knows its scheduler already.
  if (w && w->sched == s) {
    s->schedule(ctx);
  } else {
    s->schedule_from_remote(ctx);
  }
  return true;
}

bool arm(Ctx* ctx, std::size_t epoch, FiberRecord* rec) noexcept {
  // Publish the epoch, then look at the flag; cancel() sets the flag, then
  // reads the epoch. With both sequentially consistent, one sees the other.
  rec->parked_epoch.store(epoch, std::memory_order_seq_cst);
  if (!rec->cancelled.load(std::memory_order_seq_cst)) return true;
  rec->parked_epoch.store(0, std::memory_order_relaxed);
  std::size_t expected = epoch;
  if (!ctx->waker_epoch_.compare_exchange_strong(expected, epoch + 1, std::memory_order_acq_rel))
    absorb_lost_race(ctx);
  return false;
}

bool park(Ctx* ctx, std::size_t epoch, FiberRecord* rec) noexcept {
  if (rec && !arm(ctx, epoch, rec)) return false;
  Rec* self = record_of(ctx);
  if (!movable(self)) {
    ctx->suspend();
  } else {
    // Hold park_lock across the switch (Boost releases it on the other side):
    // a waker that sees kParked and gets the lock knows we are off the CPU.
    // try_lock, not lock: Boost's lock() has a large stack frame.
    boost::fibers::detail::spinlock_lock lk(self->park_lock, std::defer_lock);
    while (!lk.try_lock()) spin_pause();
    self->parked_on.store(current_worker(), std::memory_order_relaxed);
    std::uint32_t expect = Rec::kRunning;
    if (self->park_state.compare_exchange_strong(expect, Rec::kParked, std::memory_order_acq_rel)) {
      self->detach_pending = true;  // pick_next detaches us before the switch
      ctx->suspend(lk);
    } else {
      lk.unlock();  // a waker claimed this wait before we parked
    }
    self->park_state.store(Rec::kRunning, std::memory_order_relaxed);
  }
  if (rec) disarm(rec);
  return true;
}

WaitResult wait_until(FiberRecord* rec, std::size_t epoch, std::chrono::steady_clock::time_point deadline,
                      bool ahead) noexcept {
  using clock = std::chrono::steady_clock;
  Ctx* ctx = rec->ctx;
  // An earlier scope deadline may have passed, even if `deadline` has not.
  if (rec->scope_deadline < deadline) ahead = false;
  const auto d = std::min(deadline, rec->scope_deadline);
  if (d != clock::time_point::max() && !ahead && d <= clock::now()) {
    // Already due: spend the epoch instead of parking. If a waker got there
    // first it has scheduled us, and we must suspend once to consume that.
    std::size_t expected = epoch;
    if (ctx->waker_epoch_.compare_exchange_strong(expected, epoch + 1, std::memory_order_acq_rel)) {
      return WaitResult::timed_out;
    }
    absorb_lost_race(ctx);
    return WaitResult::woken;
  }
  TimerHandle timer;
  if (d != clock::time_point::max()) timer = current_worker()->timers().arm(d, ctx, epoch);
  const bool parked = park(ctx, epoch, rec);
  // We may have moved to another worker: look it up afresh.
  const bool fired = timer.node && Timers::disarm(timer, &current_worker()->timers());
  if (!parked || rec->cancelled.load(std::memory_order_relaxed)) return WaitResult::cancelled;
  // A deadline fires only once the clock has passed it (ticks round it up),
  // so then there is no need to read the clock.
  if (fired || (d != clock::time_point::max() && clock::now() >= d)) return WaitResult::timed_out;
  return WaitResult::woken;
}

void cancel(FiberRecord* rec) noexcept {
  rec->cancelled.store(true, std::memory_order_seq_cst);
  std::size_t epoch = rec->parked_epoch.load(std::memory_order_seq_cst);
  // Home, not here: the fiber unwinds where its deadline timers live, and
  // whoever cancels is not about to share anything with it.
  if (epoch) wake(rec->ctx, epoch, false);
}

void check_cancel(FiberRecord* rec) {
  if (rec && rec->cancelled.load(std::memory_order_relaxed)) throw Cancelled();
}

}  // namespace weft::detail
