// weft::detail::Task: the heap object shared by a fiber and its JoinHandle.
// No API promise: the public face is weft::JoinHandle.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace weft::detail {

// task_alloc() and task_free() give tasks their memory: a small task comes from
// weft's task heap (a burst of spawns then maps a few spans instead of growing
// a malloc arena page by page), a large one from the global operator new.
void* task_alloc(std::size_t n);
void task_free(void* p, std::size_t n) noexcept;

// TaskBase is the type-erased part of a spawned fiber's shared state. Two owners
// hold it: the fiber (until it finishes) and the JoinHandle (until join or
// detach); each gives it up by setting its bit in state_, and whoever sets the
// second bit frees it. Kept small: a million live fibers hold a million tasks.
class TaskBase {
 public:
  static void* operator new(std::size_t n) { return task_alloc(n); }
  static void operator delete(void* p, std::size_t n) noexcept { task_free(p, n); }
  // A task over-aligned by its function's captures keeps the global forms.
  static void* operator new(std::size_t n, std::align_val_t a) { return ::operator new(n, a); }
  static void operator delete(void* p, std::size_t n, std::align_val_t a) noexcept { ::operator delete(p, n, a); }

  TaskBase() noexcept = default;
  TaskBase(const TaskBase&) = delete;
  TaskBase& operator=(const TaskBase&) = delete;

  // run() executes the user function on the fiber and records its outcome.
  // It never throws: exceptions are captured for the joiner.
  virtual void run() noexcept = 0;

  // release_fiber() and release_handle() drop one owner each.
  void release_fiber() noexcept { release(kFiberGone); }
  void release_handle() noexcept { release(kHandleGone); }

  // finished() is true once run() has returned and the outcome is visible.
  bool finished() const noexcept { return state_.load(std::memory_order_acquire) & kDone; }

  // detached() is true once nobody will join: a failure is then logged.
  bool detached() const noexcept { return state_.load(std::memory_order_acquire) & kDetached; }

  std::exception_ptr& error() noexcept { return error_; }

  // name() is the name given at spawn, or "".
  const char* name() const noexcept { return name_ ? name_ : ""; }
  void set_name(const char* s, std::size_t n) {
    name_ = new char[n + 1];
    std::char_traits<char>::copy(name_, s, n);
    name_[n] = 0;
  }

  // Bits of state_; the word doubles as a futex for joiners that are threads.
  static constexpr std::uint32_t kDone = 1;
  static constexpr std::uint32_t kDetached = 2;
  static constexpr std::uint32_t kThreadWaiting = 4;
  static constexpr std::uint32_t kFiberGone = 8;
  static constexpr std::uint32_t kHandleGone = 16;

  std::atomic<std::uint32_t> state_{0};
  // lock_ guards waiter_ (a spinlock word: joins and finishes are short).
  std::atomic<std::uint32_t> lock_{0};
  // waiter_ is the parked joining fiber's wait record, or null.
  void* waiter_ = nullptr;
  // fiber_ is the fiber's private record while it lives (for cancel), or null.
  std::atomic<void*> fiber_{nullptr};

 protected:
  virtual ~TaskBase() { delete[] name_; }
  std::exception_ptr error_;

 private:
  void release(std::uint32_t bit) noexcept {
    std::uint32_t other = bit == kFiberGone ? kHandleGone : kFiberGone;
    if (state_.fetch_or(bit, std::memory_order_acq_rel) & other) delete this;
  }

  char* name_ = nullptr;
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
