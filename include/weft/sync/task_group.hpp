// weft::TaskGroup: structured concurrency. Children spawned in a group end
// before the group does, so they may borrow from the spawning fiber's stack.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <weft/deadline.hpp>
#include <weft/runtime.hpp>
#include <weft/scope.hpp>
#include <weft/spawn.hpp>
#include <weft/sync/detail.hpp>

namespace weft {

// TaskGroup runs child fibers and joins them all before the code that made
// it moves on:
//
//   int hits = 0;                          // declared before the group:
//   weft::Mutex mu;                        // outlives every child
//   {
//     weft::TaskGroup g;
//     for (auto& url : urls) g.spawn([&] { fetch(url, mu, hits); });
//     g.join();                            // rethrows the first failure
//   }
//
// - Leaving the group joins its children: join(), or the destructor. So a
//   child may use references to anything declared before the group.
// - The first child to fail (to throw anything but weft::Cancelled) cancels
//   the others (as JoinHandle::cancel: their current or next waiting call
//   throws weft::Cancelled), and join() rethrows that first exception.
//   Cancelled from a cancelled sibling is never "the first failure".
// - Children run under the deadline scope that was in force where spawn()
//   was called, so with_timeout around a group bounds its children too.
// - If the joining fiber is cancelled, or its deadline scope ends, while it
//   waits, join() cancels the children, still waits for them to finish (they
//   may hold references into its stack), and throws the first child failure
//   if there was one, else weft::Cancelled or std::system_error(timed_out).
//
// The destructor never throws. It joins the children as join() would; if the
// scope is being left by an exception it cancels them first. A failure that
// join() did not report is logged (as a failed detached fiber would be), not
// lost: call join() to see errors. A group can be reused after join().
//
// join() belongs to the fiber that owns the group; spawn() may also be called
// by the group's children, and cancel() from anywhere. Inside a fiber the children go to that fiber's runtime;
// a plain thread gives the group a Runtime to spawn into.
class TaskGroup {
 public:
  TaskGroup() noexcept;
  explicit TaskGroup(Runtime& rt) noexcept;
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;
  ~TaskGroup();

  // spawn() starts f() in a child fiber of the group. If the group is already
  // cancelled, the child starts cancelled. Throws what weft::spawn throws.
  template <class F>
  void spawn(F&& f) {
    spawn(SpawnOptions{}, std::forward<F>(f));
  }

  template <class F>
  void spawn(const SpawnOptions& opts, F&& f) {
    using Fn = std::decay_t<F>;
    static_assert(std::is_invocable_v<Fn&>, "TaskGroup::spawn needs a callable taking no arguments");
    auto body = [this, scope = current_deadline(),
                 fn = std::optional<Fn>(std::in_place, std::forward<F>(f))]() mutable noexcept {
      std::exception_ptr error;
      try {
        with_deadline(scope, [&] { std::invoke(*fn); });
      } catch (...) {
        error = std::current_exception();
      }
      // The captures die before the group hears we are done: once it does,
      // whatever they refer to may be gone.
      fn.reset();
      child_done(std::move(error));
    };
    child_started();
    JoinHandle<void> h;
    try {
      h = rt_ ? rt_->spawn(opts, std::move(body)) : weft::spawn(opts, std::move(body));
    } catch (...) {
      child_done(nullptr);
      throw;
    }
    adopt(std::move(h));
  }

  // join() waits for every child spawned so far, then rethrows the first
  // failure, if any (see above for cancellation and deadlines).
  void join();

  // cancel() cancels every child: their current or next waiting call throws
  // weft::Cancelled. Children spawned later start cancelled, until join().
  void cancel() noexcept;

  // running() is the number of children that have not finished.
  std::size_t running() const noexcept;

 private:
  void child_started() noexcept;
  void child_done(std::exception_ptr error) noexcept;
  void adopt(JoinHandle<void> h);
  // wait_all() waits for running_ to reach zero; returns the parent's own
  // failure (cancelled, timed out) after cancelling the children and waiting
  // for them regardless.
  std::error_code wait_all() noexcept;

  Runtime* rt_ = nullptr;               // where children go; null: the caller's runtime
  int uncaught_;                        // std::uncaught_exceptions() at construction
  mutable std::atomic<std::uint32_t> lk_{0};  // spin lock word guarding all below
  std::size_t running_ = 0;             // children not yet done
  bool cancelling_ = false;             // a failure or cancel() happened
  std::exception_ptr error_;            // the first failure
  std::vector<JoinHandle<void>> children_;  // for cancel(); finished ones pruned
  std::size_t prune_at_ = 16;           // children_ size that triggers pruning
  detail::WaitList waiters_;            // the joiner
};

}  // namespace weft
