// See wait.hpp for the protocol.
#include "wait.hpp"

#include <weft/errors.hpp>

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

void cancel(FiberRecord* rec) noexcept {
  rec->cancelled.store(true, std::memory_order_seq_cst);
  std::size_t epoch = rec->parked_epoch.load(std::memory_order_seq_cst);
  if (epoch) wake(rec->ctx, epoch);
}

void check_cancel(FiberRecord* rec) {
  if (rec && rec->cancelled.load(std::memory_order_relaxed)) throw Cancelled();
}

}  // namespace weft::detail
