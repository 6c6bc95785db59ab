// The meeting point of a fiber and its JoinHandle. The finishing fiber sets
// kDone and wakes the one joiner: a fiber (parked with a waker) or a thread
// (blocked on the state word as a futex).
#include <chrono>
#include <exception>
#include <system_error>

#include <weft/errors.hpp>
#include <weft/spawn.hpp>

#include "fiber_record.hpp"
#include "log.hpp"
#include "runtime_core.hpp"
#include "spin_lock.hpp"
#include "task_finish.hpp"
#include "wait.hpp"
#include "worker.hpp"

namespace weft::detail {

namespace {

struct JoinWaiter {
  Ctx* ctx;
  std::size_t epoch;
};

// file_joiner() makes jw, with a fresh epoch of its context, the joiner that
// finish_task() wakes; false if t has finished already. unfile_joiner()
// takes it back if still there: a wait that ended otherwise must not leave
// its frame registered.
bool file_joiner(TaskBase* t, JoinWaiter& jw) noexcept {
  WordGuard g(t->lock_);
  if (t->state_.load(std::memory_order_acquire) & TaskBase::kDone) return false;
  jw.epoch = new_epoch(jw.ctx);
  t->waiter_ = &jw;
  return true;
}

void unfile_joiner(TaskBase* t, JoinWaiter& jw) noexcept {
  WordGuard g(t->lock_);
  if (t->waiter_ == &jw) t->waiter_ = nullptr;
}

// log_failure() reports a detached fiber's exception; cancellation is normal.
void log_failure(TaskBase* t) noexcept {
  if (!t->error()) return;
  const char* name = *t->name() ? t->name() : "(unnamed)";
  try {
    std::rethrow_exception(t->error());
  } catch (const Cancelled&) {
  } catch (const std::exception& e) {
    logger().error("detached fiber '{}' failed: {}", name, e.what());
  } catch (...) {
    logger().error("detached fiber '{}' failed with a non-standard exception", name);
  }
}

}  // namespace

void finish_task(TaskBase* t) noexcept {
  std::uint32_t prev;
  {
    WordGuard g(t->lock_);
    t->fiber_.store(nullptr, std::memory_order_relaxed);
    prev = t->state_.fetch_or(TaskBase::kDone, std::memory_order_acq_rel);
    if (auto* jw = static_cast<JoinWaiter*>(t->waiter_)) {
      // Wake under the lock: a joiner woken by cancellation takes the lock
      // before it leaves, so its frame and context are still there.
      wake(jw->ctx, jw->epoch);
      t->waiter_ = nullptr;
    }
  }
  if (prev & TaskBase::kDetached) log_failure(t);
  if (prev & TaskBase::kThreadWaiting) t->state_.notify_all();
}

void join_wait(TaskBase* t) {
  if (t->finished()) return;
  Worker* w = current_worker();
  FiberRecord* rec = w ? current_record() : nullptr;
  if (!w) {
    // The thread a current-thread runtime is bound to runs its fibers while
    // it waits: the task may be one of them.
    if (RuntimeCore* rt = RuntimeCore::driven_here()) {
      rt->join_driving(t);
      return;
    }
  }
  if (!rec) {
    // A plain thread blocks on the state word.
    std::uint32_t s = t->state_.fetch_or(TaskBase::kThreadWaiting, std::memory_order_acq_rel) |
                      TaskBase::kThreadWaiting;
    while (!(s & TaskBase::kDone)) {
      t->state_.wait(s, std::memory_order_acquire);
      s = t->state_.load(std::memory_order_acquire);
    }
    return;
  }
  check_cancel(rec);
  Ctx* ctx = rec->ctx;
  for (;;) {
    JoinWaiter jw{ctx, 0};
    if (!file_joiner(t, jw)) return;
    WaitResult r = wait_until(rec, jw.epoch, std::chrono::steady_clock::time_point::max());
    unfile_joiner(t, jw);
    if (t->finished()) return;
    if (r == WaitResult::cancelled) throw Cancelled();
    if (r == WaitResult::timed_out)
      throw std::system_error(std::make_error_code(std::errc::timed_out), "weft: join cut short by a deadline scope");
  }
}

void join_as_main(TaskBase* t, Ctx* self) noexcept {
  for (;;) {
    JoinWaiter jw{self, 0};
    if (!file_joiner(t, jw)) return;
    // Only finish_task() wakes it: the main context is never cancelled.
    self->suspend();
    unfile_joiner(t, jw);
  }
}

void detach_task(TaskBase* t) noexcept {
  std::uint32_t prev = t->state_.fetch_or(TaskBase::kDetached, std::memory_order_acq_rel);
  if (prev & TaskBase::kDone) log_failure(t);
}

void cancel_task(TaskBase* t) noexcept {
  WordGuard g(t->lock_);
  if (auto* rec = static_cast<FiberRecord*>(t->fiber_.load(std::memory_order_acquire))) cancel(rec);
}

}  // namespace weft::detail
