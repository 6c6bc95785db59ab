// weft::CondVar: a condition variable for weft::Mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <system_error>

#include <weft/deadline.hpp>
#include <weft/sync/detail.hpp>
#include <weft/sync/mutex.hpp>

namespace weft {

// CondVar lets fibers (and plain threads) wait for a condition guarded by a
// weft::Mutex, held through a std::unique_lock<weft::Mutex>. Waiters are
// notified in FIFO order. A notification goes to a waiter that is still
// waiting: one whose wait already ended on its deadline or by cancellation is
// skipped, so notify_one() is never lost on it. Wakeups are not spurious, but
// as usual another fiber may have changed the condition before the woken one
// re-takes the mutex: use the predicate forms.
//
// Every wait returns with the mutex held, even when it ends by cancellation
// or a deadline scope (re-taking the mutex is not cut short by either). The
// waits are cancellation points: weft::Cancelled is thrown after the mutex is
// re-taken. wait() and wait(lock, pred) throw std::system_error(timed_out)
// when a deadline scope ends; wait_until/wait_for report it as a timeout.
class CondVar {
 public:
  CondVar() noexcept = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;
  // No fiber may be waiting when the CondVar is destroyed.
  ~CondVar() = default;

  // wait() releases lock's mutex, waits for a notification, and re-takes it.
  void wait(std::unique_lock<Mutex>& lock);

  template <class Pred>
  void wait(std::unique_lock<Mutex>& lock, Pred pred) {
    while (!pred()) wait(lock);
  }

  // wait(lock, ec, d) is the no-throw form: true when notified; false with
  // ec = timed_out or operation_canceled. The mutex is held on return.
  bool wait(std::unique_lock<Mutex>& lock, std::error_code& ec, Deadline d = no_deadline) noexcept;

  // wait_until() returns std::cv_status::timeout when tp (or a deadline
  // scope) passes first. Throws Cancelled in a cancelled fiber.
  template <class C, class D>
  std::cv_status wait_until(std::unique_lock<Mutex>& lock, const std::chrono::time_point<C, D>& tp) {
    return wait_deadline(lock, detail::to_deadline(tp));
  }

  // wait_until(lock, tp, pred) returns pred() once it holds or time is up.
  template <class C, class D, class Pred>
  bool wait_until(std::unique_lock<Mutex>& lock, const std::chrono::time_point<C, D>& tp, Pred pred) {
    const Deadline d = detail::to_deadline(tp);
    while (!pred()) {
      if (wait_deadline(lock, d) == std::cv_status::timeout) return pred();
    }
    return true;
  }

  template <class R, class P>
  std::cv_status wait_for(std::unique_lock<Mutex>& lock, const std::chrono::duration<R, P>& d) {
    return wait_deadline(lock, deadline_in(d));
  }

  template <class R, class P, class Pred>
  bool wait_for(std::unique_lock<Mutex>& lock, const std::chrono::duration<R, P>& d, Pred pred) {
    return wait_until(lock, deadline_in(d), std::move(pred));
  }

  // notify_one() wakes the oldest waiter still waiting, if any.
  void notify_one() noexcept {
    if (waiting_.load(std::memory_order_seq_cst) != 0) notify_slow(false);
  }

  // notify_all() wakes every waiter.
  void notify_all() noexcept {
    if (waiting_.load(std::memory_order_seq_cst) != 0) notify_slow(true);
  }

 private:
  std::cv_status wait_deadline(std::unique_lock<Mutex>& lock, Deadline d);
  std::error_code wait_impl(std::unique_lock<Mutex>& lock, Deadline d) noexcept;
  void notify_slow(bool all) noexcept;

  // waiting_ counts queued waiters, so a notify with none costs one load. A
  // waiter counts itself while it holds the mutex, and a notifier that changed
  // the condition under the mutex then sees it.
  std::atomic<std::uint32_t> waiting_{0};
  std::atomic<std::uint32_t> lk_{0};  // spin lock word guarding waiters_
  detail::WaitList waiters_;          // oldest first
};

}  // namespace weft
