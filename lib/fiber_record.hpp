// FiberRecord: the runtime's private state of one fiber. It lives at the top of
// the fiber's own stack and rides on the Boost.Fiber context as its properties,
// so the scheduler reaches it from a context* with one load and no allocation.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include <boost/fiber/context.hpp>
#include <boost/fiber/detail/spinlock.hpp>
#include <boost/fiber/properties.hpp>

#include <weft/detail/task.hpp>

#include "stack_pool.hpp"

namespace weft::detail {

class RuntimeCore;
class Worker;
class LiveList;

class FiberRecord final : public boost::fibers::fiber_properties {
 public:
  FiberRecord(RuntimeCore* rt, TaskBase* task, Worker* home, const Stack& stack, std::size_t stack_size) noexcept
      : boost::fibers::fiber_properties(nullptr), rt(rt), home(home), task(task), stack(stack),
        stack_size(stack_size) {}

  // Boost deletes a context's properties with the context. This record lives in
  // the fiber's stack, which the stack pool reclaims right after, so "delete"
  // only runs the destructor.
  static void operator delete(void*) noexcept {}

  // What a waker reads and writes comes first, in the record's first cache
  // line (with Boost's base): a wake then costs one miss here, not two.
  RuntimeCore* const rt;
  // home is the worker a spawn_local fiber is pinned to; null when it may
  // move. Set per task, like task.
  Worker* home;

  // Detached parking (wait.cpp): a fiber that may move parks detached from
  // its worker, so that whoever wakes it can run it on its own worker.
  // park_state: kRunning, kParked (committed to park; park_lock is held until
  // the switch away is complete), kWoken (a waker claimed this wait).
  static constexpr std::uint32_t kRunning = 0, kParked = 1, kWoken = 2;
  std::atomic<std::uint32_t> park_state{kRunning};
  boost::fibers::detail::spinlock park_lock;
  std::atomic<Worker*> parked_on{nullptr};  // the worker it parked on
  bool detach_pending = false;              // for that worker's pick_next

  // task is what the fiber runs now: null between two tasks of a reused
  // fiber (Worker::park_spare), or before the first of one built ahead
  // (Worker::build_ahead); set by the spawn that takes it.
  TaskBase* task;
  const Stack stack;
  const std::size_t stack_size;  // as asked, for messages

  // cancelled is set once by cancel(); waiting calls check it.
  std::atomic<bool> cancelled{false};
  // scope_deadline is the earliest deadline of the with_deadline() scopes the
  // fiber is in (max() when none); every waiting call honours it.
  std::chrono::steady_clock::time_point scope_deadline = std::chrono::steady_clock::time_point::max();
  // parked_epoch is the epoch of the waker a cancellable wait parked with, or
  // 0 while the fiber runs or waits without being cancellable.
  std::atomic<std::size_t> parked_epoch{0};

  // The list of live fibers this one is in while it runs a task, and its slot.
  LiveList* live_list = nullptr;
  std::uint32_t live_slot = 0;

  boost::fibers::context* ctx = nullptr;

  // retire tells a fiber parked between tasks to end instead (worker stop).
  bool retire = false;

  // begin_task() readies a fiber kept between tasks for its next one: the
  // state a spawn sets, or a task leaves behind, starts afresh.
  void begin_task(TaskBase* t, Worker* pinned_to) noexcept {
    task = t;
    home = pinned_to;
    cancelled.store(false, std::memory_order_relaxed);
    scope_deadline = std::chrono::steady_clock::time_point::max();
  }
  // end_task() is the fiber's state between tasks.
  void end_task() noexcept {
    task = nullptr;
    home = nullptr;
  }

  std::atomic<FiberRecord*> handoff_next{nullptr};  // Worker's hand-off list
  FiberRecord* spare_next = nullptr;                 // SpareExchange's list
};

// record_of() returns ctx's record, or null for contexts that are not weft
// fibers (a worker's main and dispatcher contexts).
inline FiberRecord* record_of(boost::fibers::context* ctx) noexcept {
  return static_cast<FiberRecord*>(ctx->get_properties());
}

// prefetch_fiber() fetches a parked fiber's context and, right above it at
// the top of its stack, its record (spawn.cpp): what waking it touches. A
// hint only: a stale or null ctx is harmless, as a prefetch never faults.
inline void prefetch_fiber(const boost::fibers::context* ctx) noexcept {
  const char* p = reinterpret_cast<const char*>(ctx);
  for (std::size_t off = 0; off < sizeof(boost::fibers::context) + 192; off += 64) __builtin_prefetch(p + off, 1);
}

// kRecordReach bounds how far above its context a fiber's record lies: Boost
// builds the context right below the record, 256-byte aligned. Both lie in
// the top kStackTop bytes of the stack (spawn.cpp checks the two bounds).
constexpr std::size_t kRecordReach = 512;
constexpr std::size_t kStackTop = 4096;

// current_record() is the calling fiber's record, or null outside a weft fiber.
FiberRecord* current_record() noexcept;

}  // namespace weft::detail
