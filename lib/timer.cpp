// weft::Timer. A fiber waits with its deadline filed in its worker's wheel and
// publishes (context, epoch) so that reset() and cancel() can wake it; a plain
// thread waits on the condition variable.
#include <weft/timer.hpp>

#include <system_error>

#include <weft/errors.hpp>

#include "fiber_record.hpp"
#include "timers.hpp"
#include "wait.hpp"
#include "worker.hpp"

namespace weft {

Timer Timer::interval_at(Deadline start, Clock::duration period) {
  if (period <= Clock::duration::zero()) throw std::invalid_argument("weft: Timer::interval period must be positive");
  return Timer(start, period);
}

Timer::Timer(Timer&& o) noexcept {
  std::lock_guard<std::mutex> lk(o.mu_);
  deadline_ = o.deadline_;
  period_ = o.period_;
  armed_ = o.armed_;
  o.armed_ = false;
}

Timer& Timer::operator=(Timer&& o) noexcept {
  if (this == &o) return *this;
  Deadline d;
  Clock::duration p;
  bool a;
  {
    std::lock_guard<std::mutex> lk(o.mu_);
    d = o.deadline_;
    p = o.period_;
    a = o.armed_;
    o.armed_ = false;
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    deadline_ = d;
    period_ = p;
    armed_ = a;
    ++generation_;
    wake_waiter_locked();
  }
  cv_.notify_all();
  return *this;
}

bool Timer::wait() {
  detail::Worker* w = detail::current_worker();
  detail::FiberRecord* rec = w ? detail::current_record() : nullptr;
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    if (!armed_) return false;
    auto now = Clock::now();
    if (now >= deadline_) {
      if (period_ > Clock::duration::zero()) {
        // Next tick after now, skipping the ones missed.
        auto missed = (now - deadline_) / period_;
        deadline_ += period_ * (missed + 1);
      } else {
        armed_ = false;
      }
      return true;
    }
    if (!rec) {
      std::size_t gen = generation_;
      cv_.wait_until(lk, deadline_, [&] { return generation_ != gen; });
      continue;
    }
    detail::check_cancel(rec);
    detail::Ctx* ctx = rec->ctx;
    std::size_t epoch = detail::new_epoch(ctx);
    waiter_ctx_ = ctx;
    waiter_epoch_ = epoch;
    Deadline d = deadline_;
    lk.unlock();
    auto r = detail::wait_until(rec, epoch, d);
    lk.lock();
    if (waiter_ctx_ == ctx && waiter_epoch_ == epoch) waiter_ctx_ = nullptr;
    if (r == detail::WaitResult::cancelled) {
      lk.unlock();
      throw Cancelled();
    }
    if (r == detail::WaitResult::timed_out && Clock::now() < d) {
      lk.unlock();
      throw std::system_error(std::make_error_code(std::errc::timed_out), "weft: timer wait cut short by a deadline scope");
    }
  }
}

void Timer::wake_waiter_locked() noexcept {
  // Under mu_: the waiter re-takes mu_ before it may leave, so its context
  // cannot go away while it is woken.
  if (void* ctx = std::exchange(waiter_ctx_, nullptr)) detail::wake(static_cast<detail::Ctx*>(ctx), waiter_epoch_);
}

void Timer::reset(Deadline tp) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    deadline_ = tp;
    armed_ = true;
    ++generation_;
    wake_waiter_locked();
  }
  cv_.notify_all();
}

void Timer::cancel() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    armed_ = false;
    ++generation_;
    wake_waiter_locked();
  }
  cv_.notify_all();
}

bool Timer::armed() const {
  std::lock_guard<std::mutex> lk(mu_);
  return armed_;
}

Deadline Timer::deadline() const {
  std::lock_guard<std::mutex> lk(mu_);
  return armed_ ? deadline_ : no_deadline;
}

}  // namespace weft
