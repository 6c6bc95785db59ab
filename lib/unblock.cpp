// unblock(): hand a job to the blocking pool and park until it is done. The job
// may reference the fiber's stack, so the fiber waits for it even when
// cancelled, and reports the cancellation afterwards. submit_owned() is for
// jobs that own what they use, which a caller may stop waiting for.
#include <weft/unblock.hpp>

#include <thread>

#include <weft/errors.hpp>

#include "blocking_pool.hpp"
#include "fiber_record.hpp"
#include "runtime_core.hpp"
#include "spin_lock.hpp"
#include "wait.hpp"
#include "worker.hpp"

namespace weft::detail {

namespace {
struct UnblockJob : BlockingJob {
  Ctx* ctx;
  std::size_t epoch;
  std::atomic<bool> finished{false};  // for assertions and debuggers
};

void job_done(BlockingJob* j) noexcept {
  auto* job = static_cast<UnblockJob*>(j);
  // Copy out first: once `finished` is seen the fiber may leave.
  Ctx* ctx = job->ctx;
  std::size_t epoch = job->epoch;
  job->finished.store(true, std::memory_order_release);
  wake(ctx, epoch);
}
}  // namespace

void unblock_run(void (*fn)(void*) noexcept, void* arg) {
  FiberRecord* rec = current_worker() ? current_record() : nullptr;
  if (!rec) {
    fn(arg);
    return;
  }
  check_cancel(rec);
  UnblockJob job;
  job.fn = fn;
  job.arg = arg;
  job.done = job_done;
  job.ctx = rec->ctx;
  job.epoch = new_epoch(rec->ctx);
  rec->rt->blocking.submit(&job);
  // Not cancellable while the job runs: only job_done() wakes this epoch, and
  // it always does, so park exactly once to consume that wake.
  park(job.ctx, job.epoch, nullptr);
  check_cancel(rec);
}

void submit_owned(BlockingJob* job) {
  if (FiberRecord* rec = current_worker() ? current_record() : nullptr) {
    rec->rt->blocking.submit(job);
    return;
  }
  std::thread([job] {
    job->fn(job->arg);
    job->done(job);
  }).detach();
}

}  // namespace weft::detail
