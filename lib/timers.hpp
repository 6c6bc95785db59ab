// Timers: one worker's timer wheel and the wait deadlines filed in it.
//
// The worker thread owns the wheel (no lock). A deadline is armed by a fiber
// on the worker it runs on and fires there: the worker wakes the fiber with the
// (context, epoch) it parked with. A fiber that resumes elsewhere (stolen, or
// woken by another thread) disarms from there: the node is flagged and queued
// to its owner, which unlinks it at its next pass. Nodes come from a per-worker
// free list and carry a generation, so a late disarm of a reused node is a no-op.
// A disarm that meets a node being fired waits for the wake to complete: the
// fiber must not finish (and its context go) while its worker still wakes it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/fiber/context.hpp>

#include "timer_wheel.hpp"

namespace weft::detail {

class Timers;

// One cache line: a busy wheel fires a thousand cold nodes a tick.
struct alignas(64) TimerNode : TimerEntry {
  // state_ = generation << 2 | status; both change in one atomic step.
  std::atomic<std::uint64_t> state{0};
  boost::fibers::context* ctx = nullptr;
  std::size_t epoch = 0;
  Timers* owner = nullptr;
  TimerNode* next_free = nullptr;
  std::atomic<TimerNode*> next_cancel{nullptr};
};

// TimerHandle names an armed deadline; empty when node is null.
struct TimerHandle {
  TimerNode* node = nullptr;
  std::uint64_t gen = 0;
};

class Timers {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Timers(Clock::time_point base) noexcept : base_(base) {}
  ~Timers();
  Timers(const Timers&) = delete;
  Timers& operator=(const Timers&) = delete;

  // arm() files a deadline that wakes (ctx, epoch). Owner thread only.
  TimerHandle arm(Clock::time_point deadline, boost::fibers::context* ctx, std::size_t epoch);

  // disarm() withdraws a deadline that has not fired, and returns whether it
  // had fired (or was firing). Any thread.
  static bool disarm(TimerHandle h, Timers* caller_timers) noexcept;

  // run() unlinks withdrawn deadlines and fires those due by now, and
  // returns how many fibers it woke. Owner only.
  std::size_t run(Clock::time_point now) noexcept;

  // next_deadline() is when run() next has something to fire, or max().
  Clock::time_point next_deadline() const noexcept;

  // pending() counts armed deadlines, not those withdrawn from another
  // thread that still wait for the owner's next pass to be unlinked: an idle
  // owner may sleep until such a deadline would have fired. Any thread (a
  // relaxed snapshot).
  std::uint64_t pending() const noexcept {
    const std::uint64_t armed = pending_.load(std::memory_order_relaxed);
    const std::uint64_t withdrawn = withdrawn_.load(std::memory_order_relaxed);
    return armed > withdrawn ? armed - withdrawn : 0;
  }

 private:
  static constexpr std::uint64_t kFree = 0, kArmed = 1, kFiring = 2, kCancelling = 3;
  std::uint64_t to_tick(Clock::time_point tp) const noexcept;
  TimerNode* alloc();
  void release(TimerNode* n) noexcept;
  void push_free(TimerNode* n) noexcept {
    n->next_free = free_;
    free_ = n;
  }
  void drain_cancels() noexcept;

  const Clock::time_point base_;
  TimerWheel wheel_;
  TimerNode* free_ = nullptr;
  std::vector<std::unique_ptr<TimerNode[]>> chunks_;
  std::atomic<TimerNode*> cancels_{nullptr};  // lock-free stack of nodes to unlink
  std::atomic<std::uint64_t> pending_{0};     // written by the owner only
  std::atomic<std::uint64_t> withdrawn_{0};   // nodes in cancels_
};

}  // namespace weft::detail
