// weft::Timer. A fiber waits with its deadline filed in its worker's wheel,
// linked into the timer's list of parked fibers so that reset() and cancel()
// can wake it; a plain thread waits on the condition variable. Either way a
// waiter that wakes looks at the timer again under its lock.
#include <weft/timer.hpp>

#include <algorithm>
#include <stdexcept>
#include <system_error>

#include <weft/errors.hpp>
#include <weft/scope.hpp>

#include "fiber_record.hpp"
#include "timers.hpp"
#include "wait.hpp"
#include "worker.hpp"

namespace weft {

// Parked is a fiber waiting in wait(), on its stack. It stays linked until a
// waker takes it off the list or the fiber, back under the lock, unlinks it.
struct Timer::Parked {
  detail::Ctx* ctx;
  std::size_t epoch;
  Parked* prev = nullptr;
  Parked* next = nullptr;
  bool linked = false;
};

Timer Timer::interval_at(Deadline start, Clock::duration period) {
  if (period <= Clock::duration::zero())
    throw std::invalid_argument("weft: Timer::interval period must be positive");
  return Timer(start, period);
}

// take_state_locked() moves from's schedule into to and disarms from; both
// locks are held. Waiters on either look again: to's at the new schedule,
// from's at a timer that is no longer armed.
void Timer::take_state_locked(Timer& to, Timer& from) noexcept {
  to.deadline_ = from.deadline_;
  to.period_ = from.period_;
  to.armed_ = from.armed_;
  from.armed_ = false;
  ++to.generation_;
  ++from.generation_;
  to.wake_waiters_locked();
  from.wake_waiters_locked();
}

Timer::Timer(Timer&& o) noexcept {
  {
    std::scoped_lock lk(mu_, o.mu_);
    take_state_locked(*this, o);
  }
  o.cv_.notify_all();
}

Timer& Timer::operator=(Timer&& o) noexcept {
  if (this == &o) return *this;
  {
    std::scoped_lock lk(mu_, o.mu_);
    take_state_locked(*this, o);
  }
  cv_.notify_all();
  o.cv_.notify_all();
  return *this;
}

bool Timer::wait() {
  detail::Worker* w = detail::current_worker();
  detail::FiberRecord* rec = w ? detail::current_record() : nullptr;
  // The scope's deadline (a fiber's moves with it; a thread's is its own).
  const Deadline scope = current_deadline();
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    if (!armed_) return false;
    const auto now = Clock::now();
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
    if (now >= scope) {
      lk.unlock();
      throw std::system_error(std::make_error_code(std::errc::timed_out),
                              "weft: timer wait cut short by a deadline scope");
    }
    if (!rec) {
      const std::size_t gen = generation_;
      const auto changed = [&] { return generation_ != gen; };
      if (const Deadline until = std::min(deadline_, scope); until == no_deadline) {
        cv_.wait(lk, changed);  // armed for never: until reset or cancelled
      } else {
        cv_.wait_until(lk, until, changed);
      }
      continue;
    }
    detail::check_cancel(rec);
    Parked self{rec->ctx, detail::new_epoch(rec->ctx)};
    self.next = parked_;
    if (parked_) parked_->prev = &self;
    parked_ = &self;
    self.linked = true;
    const Deadline d = deadline_;
    lk.unlock();
    // The wheel takes the scope's deadline into account too.
    const auto r = detail::wait_until(rec, self.epoch, d);
    lk.lock();
    if (self.linked) {
      (self.prev ? self.prev->next : parked_) = self.next;
      if (self.next) self.next->prev = self.prev;
    }
    if (r == detail::WaitResult::cancelled) {
      lk.unlock();
      throw Cancelled();
    }
  }
}

void Timer::wake_waiters_locked() noexcept {
  // Under mu_: each waiter re-takes mu_ before it may leave, so its node and
  // context cannot go away while it is woken.
  for (Parked* p = std::exchange(parked_, nullptr); p;) {
    Parked* next = p->next;
    p->linked = false;
    detail::wake(p->ctx, p->epoch);
    p = next;
  }
}

void Timer::reset(Deadline tp) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    deadline_ = tp;
    armed_ = true;
    ++generation_;
    wake_waiters_locked();
  }
  cv_.notify_all();
}

void Timer::cancel() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    armed_ = false;
    ++generation_;
    wake_waiters_locked();
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
