// weft::CondVar: a FIFO of waiters under a spin lock. The waiter queues
// itself before it releases the mutex, so a notifier that takes the mutex
// after it (to change the condition) finds it queued: no lost wakeup. Its
// wait may end three ways (notified, deadline, cancelled); only a claim by a
// notifier counts as a notification, and a notifier whose claim fails (the
// waiter gave up) moves on to the next waiter.
#include <weft/sync/condvar.hpp>

#include "sync_internal.hpp"

namespace weft {

using detail::lock_word;
using detail::SyncNode;
using detail::unlock_word;

std::error_code CondVar::wait_impl(std::unique_lock<Mutex>& lock, Deadline d) noexcept {
  Mutex* m = lock.mutex();
  if (!m || !lock.owns_lock()) detail::misuse("weft::CondVar::wait() without holding the mutex");
  SyncNode w;
  lock_word(lk_);
  push_back(waiters_, &w);
  waiting_.fetch_add(1, std::memory_order_seq_cst);
  unlock_word(lk_);
  // Release the mutex behind the lock's back: the lock keeps "owning" it, and
  // we hand it back owned whatever happens.
  m->unlock();
  detail::WaitStatus st = w.wait(d);
  lock_word(lk_);
  if (w.queued) {
    unlink(waiters_, &w);
    waiting_.fetch_sub(1, std::memory_order_relaxed);
  }
  unlock_word(lk_);
  m->relock();
  return w.claimed() ? std::error_code() : detail::status_error(st);
}

void CondVar::wait(std::unique_lock<Mutex>& lock) {
  if (std::error_code ec = wait_impl(lock, no_deadline)) detail::throw_wait_error(ec, "weft::CondVar::wait");
}

bool CondVar::wait(std::unique_lock<Mutex>& lock, std::error_code& ec, Deadline d) noexcept {
  ec = wait_impl(lock, d);
  return !ec;
}

std::cv_status CondVar::wait_deadline(std::unique_lock<Mutex>& lock, Deadline d) {
  return detail::expect_timeout(wait_impl(lock, d)) ? std::cv_status::no_timeout : std::cv_status::timeout;
}

void CondVar::notify_slow(bool all) noexcept {
  lock_word(lk_);
  while (SyncNode* w = detail::pop_front(waiters_)) {
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    if (w->wake() && !all) break;
  }
  unlock_word(lk_);
}

}  // namespace weft
