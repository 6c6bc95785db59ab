// weft::TaskGroup. Children report to the group when their function is done
// (a count under a spin lock, plus the first failure); the parent waits for
// the count to reach zero. It does not wait through JoinHandle::join(): that
// wait is cut short by the parent's own cancellation, and the parent must not
// unwind past children that may still use its stack. So the parent's wait
// here, once cut short, cancels the children and goes on waiting with its own
// cancellation and deadline scope masked. The handles are kept only to cancel
// the children; finished ones are pruned as the group grows.
#include <weft/sync/task_group.hpp>

#include <algorithm>
#include <exception>

#include <weft/errors.hpp>

#include "../log.hpp"
#include "sync_internal.hpp"

namespace weft {

using detail::lock_word;
using detail::SyncNode;
using detail::unlock_word;
using detail::WordGuard;

namespace {

bool is_cancelled(const std::exception_ptr& e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const Cancelled&) {
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

TaskGroup::TaskGroup() noexcept : uncaught_(std::uncaught_exceptions()) {}

TaskGroup::TaskGroup(Runtime& rt) noexcept : rt_(&rt), uncaught_(std::uncaught_exceptions()) {}

TaskGroup::~TaskGroup() {
  // Leaving by an exception: the children's work is moot.
  if (std::uncaught_exceptions() > uncaught_) cancel();
  wait_all();
  std::exception_ptr error;
  {
    WordGuard g(lk_);
    error = std::move(error_);
  }
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    detail::logger().error("weft::TaskGroup: a child failed and join() was not called: {}", e.what());
  } catch (...) {
    detail::logger().error("weft::TaskGroup: a child failed with a non-standard exception and join() was not called");
  }
}

void TaskGroup::child_started() noexcept {
  WordGuard g(lk_);
  ++running_;
}

void TaskGroup::child_done(std::exception_ptr error) noexcept {
  const bool failed = error && !is_cancelled(error);
  WordGuard g(lk_);
  if (failed && !error_) {
    error_ = std::move(error);
    cancelling_ = true;
    for (auto& h : children_) h.cancel();
  }
  // Past the wake the parent may leave and free the group: the guard's
  // release of lk_ is our last touch of it.
  if (--running_ == 0) detail::wake_all(waiters_);
}

void TaskGroup::adopt(JoinHandle<void> h) {
  std::vector<JoinHandle<void>> finished;
  {
    WordGuard g(lk_);
    if (children_.size() >= prune_at_) {
      auto keep = std::partition(children_.begin(), children_.end(),
                                 [](const JoinHandle<void>& c) { return !c.is_finished(); });
      finished.assign(std::make_move_iterator(keep), std::make_move_iterator(children_.end()));
      children_.erase(keep, children_.end());
      prune_at_ = std::max<std::size_t>(16, children_.size() * 2);
    }
    children_.push_back(std::move(h));
    if (cancelling_) children_.back().cancel();
  }
  // finished handles are dropped here, outside the lock.
}

void TaskGroup::cancel() noexcept {
  WordGuard g(lk_);
  cancelling_ = true;
  for (auto& h : children_) h.cancel();
}

std::size_t TaskGroup::running() const noexcept {
  WordGuard g(lk_);
  return running_;
}

std::error_code TaskGroup::wait_all() noexcept {
  std::error_code own;
  lock_word(lk_);
  while (running_ > 0) {
    SyncNode w;
    push_back(waiters_, &w);
    detail::WaitStatus st = detail::park(lk_, waiters_, w, no_deadline);
    if (!w.popped && st != detail::WaitStatus::woken) {
      own = detail::status_error(st);
      break;
    }
  }
  unlock_word(lk_);
  if (!own) return own;

  // Our own wait was cut short; the children may still use our stack.
  cancel();
  detail::WaitMask mask;
  lock_word(lk_);
  while (running_ > 0) {
    SyncNode w;
    push_back(waiters_, &w);
    detail::WaitStatus st = detail::park(lk_, waiters_, w, no_deadline);
    if (!w.popped && st == detail::WaitStatus::cancelled) mask.absorb();
  }
  unlock_word(lk_);
  return own;
}

void TaskGroup::join() {
  std::error_code own = wait_all();
  std::exception_ptr error;
  std::vector<JoinHandle<void>> children;
  {
    WordGuard g(lk_);
    error = std::move(error_);
    error_ = nullptr;
    cancelling_ = false;
    children.swap(children_);
    prune_at_ = 16;
  }
  children.clear();
  if (error) std::rethrow_exception(error);
  if (own) detail::throw_wait_error(own, "weft::TaskGroup::join");
}

}  // namespace weft
