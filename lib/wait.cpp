// See wait.hpp for the protocol.
#include "wait.hpp"

#include <algorithm>

#include <weft/errors.hpp>

#include "timers.hpp"
#include "worker.hpp"

namespace weft::detail {

bool wake(Ctx* ctx, std::size_t epoch) noexcept {
  std::size_t expected = epoch;
  if (!ctx->waker_epoch_.compare_exchange_strong(expected, epoch + 1, std::memory_order_acq_rel)) return false;
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
  if (!ctx->waker_epoch_.compare_exchange_strong(expected, epoch + 1, std::memory_order_acq_rel)) {
    // A waker won the race and has scheduled us: suspend to consume that.
    ctx->suspend();
  }
  return false;
}

bool park(Ctx* ctx, std::size_t epoch, FiberRecord* rec) noexcept {
  if (rec && !arm(ctx, epoch, rec)) return false;
  ctx->suspend();
  if (rec) disarm(rec);
  return true;
}

WaitResult wait_until(FiberRecord* rec, std::size_t epoch, std::chrono::steady_clock::time_point deadline) noexcept {
  using clock = std::chrono::steady_clock;
  Ctx* ctx = rec->ctx;
  const auto d = std::min(deadline, rec->scope_deadline);
  if (d != clock::time_point::max() && d <= clock::now()) {
    // Already due: spend the epoch instead of parking. If a waker got there
    // first it has scheduled us, and we must suspend once to consume that.
    std::size_t expected = epoch;
    if (ctx->waker_epoch_.compare_exchange_strong(expected, epoch + 1, std::memory_order_acq_rel)) {
      return WaitResult::timed_out;
    }
    ctx->suspend();
    return WaitResult::woken;
  }
  TimerHandle timer;
  if (d != clock::time_point::max()) timer = current_worker()->timers().arm(d, ctx, epoch);
  const bool parked = park(ctx, epoch, rec);
  // We may have moved to another worker: look it up afresh.
  if (timer.node) Timers::disarm(timer, &current_worker()->timers());
  if (!parked || rec->cancelled.load(std::memory_order_relaxed)) return WaitResult::cancelled;
  if (d != clock::time_point::max() && clock::now() >= d) return WaitResult::timed_out;
  return WaitResult::woken;
}

void cancel(FiberRecord* rec) noexcept {
  rec->cancelled.store(true, std::memory_order_seq_cst);
  std::size_t epoch = rec->parked_epoch.load(std::memory_order_seq_cst);
  if (epoch) wake(rec->ctx, epoch);
}

void check_cancel(FiberRecord* rec) {
  if (rec && rec->cancelled.load(std::memory_order_relaxed)) throw Cancelled();
}

}  // namespace weft::detail
