// Worker: one scheduler thread of a runtime, and the Boost.Fiber algorithm that
// decides which of its fibers runs next.
//
// Order of picking (Worker::pick_next). First, housekeeping: the fiber that
// is leaving, if it parks detached (wait.cpp), is detached from this worker,
// and fibers handed back to this worker by other threads (hand_off) join the
// LIFO slot and the queue. Then:
//   1. every kDispatchInterval picks, or when another thread has handed this
//      worker a fiber, the Boost dispatcher fiber: it moves remotely woken
//      fibers and expired sleepers into the queues and frees finished fibers;
//   2. fibers pinned to this worker (spawn_local, the thread's main context);
//   3. the LIFO slot: the fiber most recently made ready here (a spawner whose
//      child runs first, a fiber woken by the one that just ran), at most
//      kMaxLifoStreak times in a row so a ping-pong pair cannot starve the rest;
//   4. the local run queue, oldest first;
//   5. the runtime's injection queue (fibers spawned from outside threads,
//      the overflow of full queues; a batch every kDispatchInterval picks);
//   6. the dispatcher, if it is waiting;
//   7. (only in the dispatcher) half of another worker's queue, once a fiber
//      has waited in it for kStealAge: a worker that keeps up with its queue
//      keeps its fibers (see ripe()).
// When nothing is found the dispatcher calls suspend_until(): spin for up to
// Config::idle_spin looking for work, then park the thread until unparked or
// until the next sleeper's deadline.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include <boost/fiber/algo/algorithm.hpp>
#include <boost/fiber/context.hpp>
#include <boost/fiber/operations.hpp>
#include <boost/fiber/scheduler.hpp>

#include "live_list.hpp"
#include "parker.hpp"
#include "run_queue.hpp"
#include "spare_fibers.hpp"
#include "stack_pool.hpp"
#include "timers.hpp"

namespace weft::detail {

class RuntimeCore;
class FiberRecord;
using Ctx = boost::fibers::context;

class Worker {
 public:
  Worker(RuntimeCore* rt, unsigned index, std::chrono::steady_clock::time_point epoch) noexcept
      : rt(rt), index(index), timers_(epoch), rng_(index * 2654435761u + 1) {}
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // thread_main() is the body of the worker thread.
  void thread_main() noexcept;

  // enter_caller() makes the calling thread this worker, for a runtime with
  // Config::current_thread: its Boost.Fiber scheduler gets this worker's
  // algorithm (once), and its main context, returned, waits while fibers run.
  // leave_caller() gives the thread back between drives. retire_caller(),
  // entered, once every task has finished: ends the spare fibers, lets Boost
  // free the finished ones (their stacks go back to the pool) and gives the
  // thread Boost's default algorithm again.
  Ctx* enter_caller() noexcept;
  void leave_caller() noexcept;
  void retire_caller() noexcept;

  // Boost.Fiber algorithm hooks (owner thread, except notify()).
  void awakened(Ctx* ctx) noexcept;
  Ctx* pick_next() noexcept;
  bool has_ready_fibers() const noexcept;
  void suspend_until(std::chrono::steady_clock::time_point tp) noexcept;
  void notify() noexcept;

  // take_woken() makes a detached fiber that this worker's thread just woke
  // ready here (its LIFO slot). Owner thread.
  void take_woken(Ctx* ctx) noexcept { awakened(ctx); }
  // hand_off() gives this worker a fiber woken while it was still switching
  // away from it here, or woken by a thread that is no worker (the reactor
  // thread): picked up at the next pick, after the switch. Any thread.
  void hand_off(FiberRecord* rec) noexcept;
  // release_handoffs() moves the hand-off list to the runtime's injection
  // queue, for a stuck worker (monitor). Fibers still switching away stay.
  void release_handoffs() noexcept;

  // park_spare() keeps the calling fiber, whose task has just ended, for a
  // later spawn to reuse with its context, stack and record: on this worker,
  // or, beyond SpareFibers::kKeep when there are other workers, on whichever
  // runs out first (SpareExchange). It suspends until reused (true) or told
  // to retire (false). False at once when the fiber's stack is not of the
  // default size, the worker is stopping, or there is no memory to list it.
  // Owner thread.
  bool park_spare(FiberRecord* rec) noexcept;
  // take_spare() is a fiber parked by park_spare() (the most recent: its stack
  // is the warmest), or null; its stack counts as in use again. Owner thread.
  FiberRecord* take_spare() noexcept {
    FiberRecord* rec = spares_.take();
    if (rec) stacks.count(1);  // uncounted by park_spare()
    return rec;
  }
  // take_spare_for_spawn() is take_spare(), falling back on the spares other
  // workers passed on (SpareExchange). Owner thread.
  FiberRecord* take_spare_for_spawn() noexcept {
    if (spares_.size() == 0 && !rt_spares_empty()) adopt_spares();
    return take_spare();
  }
  // spare_fibers() counts the fibers kept between tasks. Any thread.
  std::size_t spare_fibers() const noexcept { return spares_.size(); }

  // stuck() is set by the monitor when this worker has not switched fibers
  // for a millisecond, and cleared at its next pick. Any thread.
  bool stuck() const noexcept { return stuck_.load(std::memory_order_relaxed); }
  void mark_stuck() noexcept { stuck_.store(true, std::memory_order_relaxed); }

  // request_stop() lets the thread return once its fibers are gone. Any thread.
  void request_stop() noexcept;

  // unpark() wakes this worker if it is parked or blocked polling. Any thread.
  void unpark() noexcept;

  // timers() is this worker's timer wheel. Owner thread only.
  Timers& timers() noexcept { return timers_; }

  // mark_yielding() tells awakened() that ctx is yielding: it goes to the back
  // of the queue, not into the LIFO slot. Owner thread.
  void mark_yielding(Ctx* ctx) noexcept { yielding_ = ctx; }

  // queued() is a hint of how many fibers another worker could steal.
  std::uint32_t queued() const noexcept { return queue_.size_hint(); }

  // switches() counts the fibers this worker has picked; unchanged over time
  // means it is stuck in one. has_lifo() tells whether its LIFO slot is full.
  std::uint64_t switches() const noexcept { return switches_.load(std::memory_order_relaxed); }
  bool has_lifo() const noexcept { return lifo_.load(std::memory_order_relaxed) != nullptr; }

  RuntimeCore* const rt;
  const unsigned index;
  boost::fibers::scheduler* sched = nullptr;  // set on the thread at start
  StackCache stacks;                           // owner thread only
  LiveList live;                               // fibers spawned on this worker
  std::thread thread;
  std::atomic<int> tid{0};  // the kernel's id of the thread, for the monitor
  std::atomic<std::size_t> steals{0};
  std::atomic<std::size_t> parks{0};
  // woken_searching is set by whoever unparked this worker to look for work.
  std::atomic<bool> woken_searching{false};

  static constexpr std::uint32_t kDispatchInterval = 61;  // as Go's and Tokio's
  static constexpr std::uint32_t kMaxLifoStreak = 3;      // as Tokio's
  // A busy worker takes ready sockets kPollBatch at most at a time, once
  // fewer than that many fibers wait in its queue (maintain()); or, when it
  // has not polled for kBusyPollNs, as many as its queue has room for, and
  // kMinPollRoom at least.
  static constexpr int kPollBatch = 32;
  static constexpr int kMinPollRoom = 128;
  static constexpr std::int64_t kBusyPollNs = 2'000'000;

  // note_spawn() tells the LIFO cap that the running fiber spawned: a spawner
  // resumed from the slot is continuing its own work, not ping-ponging.
  void note_spawn() noexcept { lifo_streak_ = 0; }

  // running() is the context this worker runs now: set whenever the algorithm
  // picks one (and by spawn, which switches to the child directly). Faster than
  // Boost's context::active(), a global-dynamic thread_local in a shared library.
  Ctx* running() const noexcept { return running_.load(std::memory_order_relaxed); }
  void set_running(Ctx* ctx) noexcept { running_.store(ctx, std::memory_order_relaxed); }

  // idle() is true while the worker looks for work or sleeps. Any thread.
  bool idle() const noexcept { return idle_.load(std::memory_order_relaxed); }

  // running_name() copies the name of the fiber running now, for the monitor
  // (a best effort: the fiber may end as we read).
  std::string running_name() const;

  // next_color() cycles the stack-top offsets of fibers spawned here.
  unsigned next_color() noexcept { return color_++; }

 private:
  Ctx* choose() noexcept;
  // prefetch_queued() fetches, in stages, what the next queued fibers will
  // touch when they resume. Pops call it while cold_pops_ lasts: the count
  // of fibers deadlines woke. Others, woken by I/O or by another fiber,
  // mostly waited too briefly to have gone cold (an echo server's
  // connections, which the reactor's dispatch prefetches anyway), and there
  // the instructions would cost more than the misses they save.
  void prefetch_queued() noexcept;
  void drain_handoffs(Ctx* switching) noexcept;
  void push_stealable(Ctx* ctx) noexcept;
  // spill_half() moves the older half of a full queue to the injection
  // queue. Out of line: its 1 KiB array would otherwise sit in the frame of
  // push_stealable(), which often runs on top of a new fiber's stack (Boost
  // schedules the spawner from there) and would touch a second page of it.
  __attribute__((noinline)) void spill_half() noexcept;
  Ctx* take_injected() noexcept;
  Ctx* steal() noexcept;
  Ctx* attach(Ctx* ctx) noexcept;
  bool work_visible() noexcept;
  // ripe() is true when worker k (v) has had a fiber queued for kStealAge;
  // now_ns is read from the clock on first need (-1: not yet).
  bool ripe(unsigned k, const Worker* v, std::int64_t& now_ns) noexcept;
  bool steal_lifo(std::int64_t now_ns) noexcept;
  void suspend_until_impl(std::chrono::steady_clock::time_point tp) noexcept;
  void maintain() noexcept;
  // idle_spin() is how long this worker spins when it runs dry before it
  // parks: Config::idle_spin, or none for a lone worker by default.
  std::chrono::microseconds idle_spin() const noexcept;
  void found_work() noexcept;

  RunQueue<Ctx> queue_;
  Timers timers_;
  // Owner-only scheduling state.
  std::atomic<Ctx*> running_{nullptr};
  std::atomic<bool> idle_{false};
  // lifo_ is written by the owner; another worker may take it with an
  // exchange when the owner has not switched fibers for a while (steal_lifo).
  // Its fiber is detached like a queued one when the runtime has two workers
  // or more.
  std::atomic<Ctx*> lifo_{nullptr};
  // switches_ counts picks; other threads read it to see a worker stuck in one
  // fiber. Written by the owner only.
  std::atomic<std::uint64_t> switches_{0};
  unsigned color_ = 0;
  std::uint32_t dispatch_countdown_ = kDispatchInterval;
  std::int64_t last_poll_ns_ = 0;  // of maintain()'s last poll (owner thread)
  bool handing_over_ = false;  // retire_caller() hands the dispatcher to Boost's algorithm
  // A worker on its caller's thread (RuntimeCore::on_caller) trims the stack
  // pool itself, at most every kTrimNs (a runtime with threads does it in its
  // monitor).
  std::int64_t last_trim_ns_ = 0;
  static constexpr std::int64_t kTrimNs = 10'000'000;
  Ctx* dispatcher_ = nullptr;
  Ctx* yielding_ = nullptr;
  boost::fibers::scheduler::ready_queue_type pinned_;
  std::uint32_t lifo_streak_ = 0;
  std::size_t cold_pops_ = 0;  // pops left to prefetch for (prefetch_queued)
  std::uint32_t rng_;

  // Stealing waits until a fiber has sat in another worker's queue for
  // kStealAge. Fibers that talk to each other (a channel's producers and
  // consumer, a mutex's holders) wake each other into the waker's worker and
  // run there back to back; a thief that took them at once would split them
  // over two cores, where every hand-over crosses caches and the lock that
  // guards it bounces between them, at several times the cost. A queue its
  // owner keeps draining is left alone; one whose fibers wait (the owner is
  // busy with a long fiber, or has more work than it can run) is shared.
  // Go's idle processors sleep until woken, which delays their stealing by a
  // thread wake-up (tens of microseconds here) to the same effect.
  static constexpr std::int64_t kStealAgeNs = 25'000;
  // The same age applies to a fiber in the LIFO slot of a worker that has
  // not switched fibers since we saw it there (steal_lifo()).
  struct Sighting {
    std::uint32_t end = 0;         // the victim's end_hint() when we looked
    std::int64_t since = -1;       // when (steady clock ns); -1: its queue looked empty
    std::uint64_t switches = 0;    // the victim's switches() when we saw its LIFO slot full
    std::int64_t lifo_since = -1;  // when; -1: the slot looked empty
  };
  static constexpr unsigned kSighted = 64;  // workers watched; more are stolen from at once
  Sighting sightings_[kSighted];
  bool saw_young_ = false;  // work_visible() left non-empty queues alone

  // Fibers between tasks (park_spare), and when to end those a burst left.
  SpareFibers spares_;
  // end_spares() ends the spares due (a batch) when nothing else waits here.
  void end_spares(std::int64_t now_ns) noexcept;
  // adopt_spares() attaches every fiber of the runtime's SpareExchange and
  // keeps it here.
  void adopt_spares() noexcept;
  // pass_on_spare() parks rec, whose task has just ended, detached in the
  // runtime's SpareExchange.
  void pass_on_spare(FiberRecord* rec) noexcept;
  // end_spare() makes rec, a spare counted as in use again, end here.
  void end_spare(FiberRecord* rec) noexcept;
  bool rt_spares_empty() const noexcept;  // (out of line: RuntimeCore is incomplete here)
  // build_ahead() builds a fiber, unstarted, into the SpareExchange, unless
  // it holds kBuildAhead already (then it clears the want); false when it
  // built none. An idle worker calls it while a spawn elsewhere has found no
  // fiber to reuse: a fresh fiber costs its builder 3.5 us on a 2-core VM (a
  // new stack page's fault, the guard page, Boost's context), 0.4 us to
  // reuse, so the cores with nothing to run take that cost off the spawner.
  bool build_ahead() noexcept;
  static constexpr std::size_t kBuildAhead = 64;
  bool retiring_ = false;  // the thread is stopping: keep no more
  // end_all_spares() ends every spare, this worker's and those passed on,
  // from self, the stopping thread's main context, and keeps no more.
  void end_all_spares(Ctx* self) noexcept;

  std::atomic<FiberRecord*> handoff_{nullptr};  // see hand_off()
  std::atomic<bool> stuck_{false};

  // remote_pending is set by notify(): another thread queued a fiber for us.
  std::atomic<bool> remote_pending_{false};
  Parker parker_;

  // Main-context parking until stop (guarded by main_mu_).
  std::mutex main_mu_;
  bool stop_ = false;
  Ctx* main_ctx_ = nullptr;
  std::size_t main_epoch_ = 0;
};

// WorkerAlgorithm adapts a Worker to Boost.Fiber's algorithm interface.
class WorkerAlgorithm final : public boost::fibers::algo::algorithm {
 public:
  explicit WorkerAlgorithm(Worker* w) noexcept : w_(w) {}
  void awakened(Ctx* ctx) noexcept override { w_->awakened(ctx); }
  Ctx* pick_next() noexcept override { return w_->pick_next(); }
  bool has_ready_fibers() const noexcept override { return w_->has_ready_fibers(); }
  void suspend_until(std::chrono::steady_clock::time_point const& tp) noexcept override { w_->suspend_until(tp); }
  void notify() noexcept override { w_->notify(); }

 private:
  Worker* w_;
};

// current_worker() is the worker running the calling thread, or null. Not
// inlined: a fiber may resume on another thread, and the compiler must not
// reuse a thread-local address computed before a park.
Worker* current_worker() noexcept;
void set_current_worker(Worker* w) noexcept;

}  // namespace weft::detail
