// weft::detail::Task: the heap object shared by a fiber and its JoinHandle.
// No API promise: the public face is weft::JoinHandle.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace weft::detail {

// TaskBase is the type-erased part of a spawned fiber's shared state. Two owners
// hold it: the fiber (until it finishes) and the JoinHandle (until join or detach).
class TaskBase {
 public:
  TaskBase() noexcept = default;
  TaskBase(const TaskBase&) = delete;
  TaskBase& operator=(const TaskBase&) = delete;

  // run() executes the user function on the fiber and records its outcome.
  // It never throws: exceptions are captured for the joiner.
  virtual void run() noexcept = 0;

  // release() drops one owner's reference; the last one frees the task.
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // finished() is true once run() has returned and the outcome is visible.
  bool finished() const noexcept { return state_.load(std::memory_order_acquire) & kDone; }

  // detached() is true once nobody will join: a failure is then logged.
  bool detached() const noexcept { return state_.load(std::memory_order_acquire) & kDetached; }

  std::exception_ptr& error() noexcept { return error_; }

  // Bits of state_; the word doubles as a futex for joiners that are threads.
  static constexpr std::uint32_t kDone = 1;
  static constexpr std::uint32_t kDetached = 2;
  static constexpr std::uint32_t kThreadWaiting = 4;

  std::atomic<std::uint32_t> state_{0};
  // lock_ guards waiter_ (a spinlock word: joins and finishes are short).
  std::atomic<std::uint32_t> lock_{0};
  // waiter_ is the parked joining fiber's wait record, or null.
  void* waiter_ = nullptr;
  // fiber_ is the fiber's private record while it lives (for cancel), or null.
  std::atomic<void*> fiber_{nullptr};
  // name_ is the name given at spawn, for logs.
  std::string name_;

 protected:
  virtual ~TaskBase() = default;
  std::exception_ptr error_;

 private:
  std::atomic<std::uint32_t> refs_{2};
};

// Outcome<T> stores a fiber's return value.
template <class T>
class Outcome {
 public:
  template <class F>
  void set(F& f) { value_.emplace(std::invoke(f)); }
  T take() { return std::move(*value_); }

 private:
  std::optional<T> value_;
};

template <>
class Outcome<void> {
 public:
  template <class F>
  void set(F& f) { std::invoke(f); }
  void take() {}
};

// TaskOf<T> is a task whose outcome has type T; JoinHandle<T> holds one.
template <class T>
class TaskOf : public TaskBase {
 public:
  T take() { return outcome_.take(); }

 protected:
  Outcome<T> outcome_;
};

// Task<F> owns the user function until the fiber has run it.
template <class F, class T = std::invoke_result_t<F&>>
class Task final : public TaskOf<T> {
 public:
  explicit Task(F&& f) : fn_(std::move(f)) {}
  explicit Task(const F& f) : fn_(f) {}

  void run() noexcept override {
    try {
      this->outcome_.set(*fn_);
    } catch (...) {
      this->error_ = std::current_exception();
    }
    // The function and its captures die on the fiber, not when the handle goes.
    fn_.reset();
  }

 private:
  std::optional<F> fn_;
};

}  // namespace weft::detail
