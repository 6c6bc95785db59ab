// weft::spawn, weft::spawn_local and weft::JoinHandle: start fibers and collect
// what they return.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <weft/detail/task.hpp>
#include <weft/errors.hpp>

namespace weft {

namespace detail {
class RuntimeCore;

struct SpawnParams {
  const std::string* name = nullptr;
  std::size_t stack_size = 0;
  bool local = false;
};

// launch() starts a fiber running task in rt (null: the calling fiber's runtime).
// It throws RuntimeStopped, or std::logic_error when rt is null outside a fiber.
void launch(RuntimeCore* rt, TaskBase* task, const SpawnParams& params);
// join_wait() returns once task has finished, parking the calling fiber or
// blocking the calling thread. It throws Cancelled in a cancelled fiber.
void join_wait(TaskBase* task);
// detach_task() marks task detached so a failure is logged.
void detach_task(TaskBase* task) noexcept;
// cancel_task() asks task's fiber to stop at its next waiting call.
void cancel_task(TaskBase* task) noexcept;
}  // namespace detail

// SpawnOptions names a fiber and sizes its stack.
struct SpawnOptions {
  // name shows in logs (a failed detached fiber, a stack overflow).
  std::string name;
  // stack_size in bytes; 0 takes the runtime's Config::stack_size().
  std::size_t stack_size = 0;
};

// JoinHandle<T> refers to a spawned fiber. join() waits for it and returns its
// value or rethrows its exception; detach() lets it run on unobserved. Dropping
// a handle that was neither joined nor detached detaches it (as in Tokio), so a
// fiber never dies because its handle went out of scope.
template <class T>
class JoinHandle {
 public:
  JoinHandle() noexcept = default;
  explicit JoinHandle(detail::TaskOf<T>* task) noexcept : task_(task) {}
  JoinHandle(JoinHandle&& o) noexcept : task_(std::exchange(o.task_, nullptr)) {}
  JoinHandle& operator=(JoinHandle&& o) noexcept {
    if (this != &o) {
      reset();
      task_ = std::exchange(o.task_, nullptr);
    }
    return *this;
  }
  JoinHandle(const JoinHandle&) = delete;
  JoinHandle& operator=(const JoinHandle&) = delete;
  ~JoinHandle() { reset(); }

  // joinable() is true until join() or detach().
  bool joinable() const noexcept { return task_ != nullptr; }

  // is_finished() is true once the fiber has returned or thrown.
  bool is_finished() const noexcept { return task_ && task_->finished(); }

  // join() waits for the fiber: inside a fiber it parks only the caller, on a
  // plain thread it blocks that thread. Returns the fiber's value or rethrows its
  // exception. Throws std::logic_error on an empty handle, and Cancelled if the
  // calling fiber is cancelled while it waits (the handle then stays joinable).
  T join() {
    if (!task_) throw std::logic_error("weft: join() on an empty JoinHandle");
    detail::join_wait(task_);
    detail::TaskOf<T>* t = std::exchange(task_, nullptr);
    struct Drop {
      detail::TaskOf<T>* t;
      ~Drop() { t->release_handle(); }
    } drop{t};
    if (t->error()) std::rethrow_exception(t->error());
    return t->take();
  }

  // detach() gives the fiber up: it runs to the end; if it throws, the error is
  // logged with the fiber's name.
  void detach() noexcept {
    if (task_) {
      detail::detach_task(task_);
      std::exchange(task_, nullptr)->release_handle();
    }
  }

  // cancel() asks the fiber to stop: its current or next waiting call throws
  // weft::Cancelled. join() then rethrows Cancelled unless the fiber caught it.
  void cancel() noexcept {
    if (task_) detail::cancel_task(task_);
  }

 private:
  void reset() noexcept { detach(); }

  detail::TaskOf<T>* task_ = nullptr;
};

namespace detail {
template <class F>
using FiberResult = std::invoke_result_t<std::decay_t<F>&>;

template <class F>
JoinHandle<FiberResult<F>> spawn_in(RuntimeCore* rt, const SpawnParams& params, F&& f) {
  using Fn = std::decay_t<F>;
  static_assert(!std::is_reference_v<FiberResult<F>>,
                "a fiber cannot return a reference; return a value or a pointer");
  auto* task = new Task<Fn>(std::forward<F>(f));
  try {
    launch(rt, task, params);
  } catch (...) {
    // Neither the fiber nor a handle will own it now.
    task->release_fiber();
    task->release_handle();
    throw;
  }
  return JoinHandle<FiberResult<F>>(task);
}
}  // namespace detail

// spawn() starts f in a new fiber of the calling fiber's runtime. The new fiber
// runs at once on this worker and the caller resumes as soon as it parks (or
// another worker steals the caller first). Throws std::logic_error outside a
// fiber: use Runtime::spawn() there.
template <class F>
JoinHandle<detail::FiberResult<F>> spawn(F&& f) {
  return detail::spawn_in(nullptr, detail::SpawnParams{}, std::forward<F>(f));
}

template <class F>
JoinHandle<detail::FiberResult<F>> spawn(const SpawnOptions& opts, F&& f) {
  return detail::spawn_in(nullptr, detail::SpawnParams{&opts.name, opts.stack_size, false},
                          std::forward<F>(f));
}

// spawn_local() starts f in a fiber that never leaves the worker thread that
// made it: for code that keeps thread-affine state (thread_local caches, a
// library bound to its thread) across waiting calls.
template <class F>
JoinHandle<detail::FiberResult<F>> spawn_local(F&& f) {
  return detail::spawn_in(nullptr, detail::SpawnParams{nullptr, 0, true}, std::forward<F>(f));
}

template <class F>
JoinHandle<detail::FiberResult<F>> spawn_local(const SpawnOptions& opts, F&& f) {
  return detail::spawn_in(nullptr, detail::SpawnParams{&opts.name, opts.stack_size, true},
                          std::forward<F>(f));
}

}  // namespace weft
