// RuntimeCore: everything a Runtime owns — workers, the injection queue, the
// idle-worker registry, stacks, the blocking pool and the live-fiber lists.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <weft/config.hpp>
#include <weft/runtime.hpp>

#include "blocking_pool.hpp"
#include "cpu_plan.hpp"
#include "live_list.hpp"
#include "overflow_guard.hpp"
#include "reactor.hpp"
#include "spare_exchange.hpp"
#include "stack_pool.hpp"
#include "worker.hpp"

namespace weft::detail {

class RuntimeCore {
 public:
  explicit RuntimeCore(Config cfg);
  ~RuntimeCore();

  void start();
  void shutdown();
  bool running() const noexcept { return state_.load(std::memory_order_acquire) == kRunning; }
  // accepting() is true while new fibers may be spawned.
  bool accepting() const noexcept { return state_.load(std::memory_order_seq_cst) == kRunning; }

  // inject() queues a fiber made outside this runtime's workers. Any thread.
  void inject(Ctx* ctx) noexcept;
  // inject_batch() queues n fibers at once (a full run queue's overflow).
  void inject_batch(Ctx* const* ctxs, std::uint32_t n) noexcept;
  // take_injected() pops one injected fiber, or null. Any worker.
  Ctx* take_injected() noexcept;
  bool has_injected() const noexcept { return injected_count_.load(std::memory_order_acquire) != 0; }

  // notify_idle() wakes one parked worker to look for work, unless a worker is
  // already looking (Go's and Tokio's rule: one searcher at a time is enough,
  // and the searcher that finds work wakes the next).
  void notify_idle() noexcept;
  // Idle bookkeeping used by Worker::suspend_until().
  void begin_search() noexcept { searching_.fetch_add(1, std::memory_order_seq_cst); }
  // end_search() returns true if the caller was the last searcher.
  bool end_search() noexcept { return searching_.fetch_sub(1, std::memory_order_seq_cst) == 1; }
  void add_sleeper(Worker* w) noexcept;
  // has_idle() is a hint: some worker is parked or looking for work.
  bool has_idle() const noexcept {
    return sleeper_count_.load(std::memory_order_relaxed) != 0 || searching_.load(std::memory_order_relaxed) != 0;
  }
  // remove_sleeper() returns false if w was already taken off by notify_idle().
  bool remove_sleeper(Worker* w) noexcept;

  // bind_caller() binds a current-thread runtime (Config::current_thread) to
  // the calling thread, starting it if needed: block_on() calls it before it
  // spawns. Throws std::logic_error if another thread drives it, or if this
  // thread drives another one.
  void bind_caller();
  // join_driving() waits for t on the thread that drives this runtime, running
  // the runtime's fibers meanwhile (JoinHandle::join() from that thread).
  void join_driving(TaskBase* t) noexcept;
  // driven_here() is the current-thread runtime bound to the calling thread, or null.
  static RuntimeCore* driven_here() noexcept;

  // fiber_exited() is called when a live fiber leaves its list.
  void fiber_exited() noexcept;

  // live_count() sums the live lists.
  std::size_t live_count() noexcept;

  RuntimeStats stats() noexcept;

  const Config cfg;
  // on_caller is Config::current_thread(): the one worker is a thread that
  // calls block_on(), join() or shutdown(), and no other thread starts.
  const bool on_caller;
  const unsigned nworkers;  // started with the runtime; spares come after them in `workers`
  const std::uint64_t serial;  // unique per RuntimeCore in the process
  // workers holds every worker the runtime may run, spares included, made at
  // start() and never resized while running (other threads index it freely);
  // the first started_workers() have threads.
  std::vector<std::unique_ptr<Worker>> workers;
  unsigned started_workers() const noexcept { return started_.load(std::memory_order_acquire); }
  // may_steal() is true when a fiber can ever move to another thread.
  bool may_steal() const noexcept { return workers.size() > 1; }
  const std::chrono::steady_clock::time_point epoch;  // tick 0 of the timer wheels
  CpuPlan cpus;  // before the pools, whose threads read it
  StackPool stacks;
  BlockingPool blocking;
  Reactor reactor;
  LiveList outside_live;  // fibers spawned from threads that are not its workers
  SpareExchange spares;   // fibers between tasks passed from worker to worker

 private:
  static constexpr int kStopped = 0, kRunning = 1, kStopping = 2;
  void cancel_all() noexcept;
  // wait_for_fibers() returns once no fiber is live, logging stragglers each
  // grace period. self: the main context of the thread that runs them (a
  // current-thread runtime, entered as its worker); null: a thread that
  // merely waits while workers run them.
  void wait_for_fibers(Ctx* self = nullptr) noexcept;
  void log_stragglers() noexcept;
  void monitor() noexcept;
  void start_spare() noexcept;
  // shutdown_on_caller() is shutdown()'s cancel-and-drain for a current-thread
  // runtime: the calling thread runs the fibers until they have unwound.
  void shutdown_on_caller(std::unique_lock<std::mutex>& lk);
  // The thread a current-thread runtime is bound to (guarded by lifecycle_mu_).
  std::thread::id driver_{};
  // How long every worker must be stuck, with fibers waiting, before a spare starts.
  static constexpr std::chrono::milliseconds kSpareDelay{10};
  std::atomic<unsigned> started_{0};

  // Per-worker view of the monitor (reactor thread only).
  struct Watch {
    std::uint64_t switches = 0;
    std::chrono::steady_clock::time_point since{};
    bool reported = false;
    std::int64_t cpu_ns = -1;  // the worker thread's CPU time at `since`
  };
  std::vector<Watch> watch_;
  std::atomic<std::size_t> stalls_{0};

  std::mutex lifecycle_mu_;  // serializes start() and shutdown()
  std::condition_variable stopped_cv_;  // a shutdown that ended (with lifecycle_mu_)
  std::atomic<int> state_{kStopped};

  std::mutex inject_mu_;
  std::deque<Ctx*> injected_;
  std::atomic<std::size_t> injected_count_{0};

  std::atomic<std::uint32_t> searching_{0};
  std::atomic<std::uint32_t> sleeper_count_{0};
  std::mutex idle_mu_;
  std::vector<Worker*> sleepers_;

  // exit_seq_ counts fibers that exited during shutdown (guarded by exit_mu_
  // for the condition variable; read without it as a hint).
  std::mutex exit_mu_;
  std::condition_variable exit_cv_;
  std::atomic<std::uint32_t> exit_seq_{0};
  // The driving thread's main context while wait_for_fibers() waits for the
  // next exit (guarded by exit_mu_; null when nobody waits).
  Ctx* exit_waiter_ = nullptr;
  std::size_t exit_epoch_ = 0;
};

// CallerDrive makes the calling thread the worker of a current-thread runtime
// for its scope: the thread's Boost.Fiber scheduler runs the worker's
// algorithm, and its main context waits while the fibers run.
class CallerDrive {
 public:
  explicit CallerDrive(RuntimeCore* rt) noexcept : w_(rt->workers[0].get()) { self_ = w_->enter_caller(); }
  ~CallerDrive() { w_->leave_caller(); }
  CallerDrive(const CallerDrive&) = delete;
  CallerDrive& operator=(const CallerDrive&) = delete;
  Worker* worker() const noexcept { return w_; }
  Ctx* self() const noexcept { return self_; }

 private:
  AltStack alt_;  // the stack-overflow reporter runs on it, as on a worker thread
  Worker* w_;
  Ctx* self_;
};

}  // namespace weft::detail
