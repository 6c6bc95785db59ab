// Runtime lifecycle: start workers, cancel and drain fibers at shutdown, and the
// shared queues the workers use to find work and to wake each other.
#include "runtime_core.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include <weft/errors.hpp>

#include "hook_bridge.hpp"
#include "log.hpp"
#include "overflow_guard.hpp"
#include "task_finish.hpp"
#include "wait.hpp"

namespace weft::detail {

namespace {
// cpu_ns() is a thread's CPU time, or -1.
std::int64_t cpu_ns(std::thread& t) noexcept {
  clockid_t clk;
  timespec ts;
  if (!t.joinable() || pthread_getcpuclockid(t.native_handle(), &clk) != 0 || clock_gettime(clk, &ts) != 0) return -1;
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// in_kernel_wait() is true when the thread sleeps in a system call (state S
// or D in /proc): blocked, not merely waiting for a CPU.
bool in_kernel_wait(int tid) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[256];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');  // the name may hold spaces and parentheses
  return p && p[1] == ' ' && (p[2] == 'S' || p[2] == 'D');
}

std::uint64_t next_serial() noexcept {
  static std::atomic<std::uint64_t> n{0};
  return ++n;
}
// The current-thread runtime bound to this thread (RuntimeCore::bind_caller).
thread_local RuntimeCore* tls_driven = nullptr;

unsigned resolve_workers(const Config& cfg) {
  unsigned n = cfg.worker_threads();
  if (cfg.current_thread()) {
    if (n > 1)
      throw std::invalid_argument("weft: a current-thread runtime has one worker, not worker_threads " +
                                  std::to_string(n));
    return 1;
  }
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  // A runaway count would exhaust threads and memory before doing any good.
  if (n > 1024) throw std::invalid_argument("weft: worker_threads " + std::to_string(n) + " exceeds 1024");
  return n;
}

}  // namespace

RuntimeCore::RuntimeCore(Config c)
    : cfg(std::move(c)), on_caller(cfg.current_thread()), nworkers(resolve_workers(cfg)), serial(next_serial()),
      epoch(std::chrono::steady_clock::now()) {
  cpus.plan(cfg.pin_workers() && !on_caller, nworkers);
  // The stack preparer's thread only uses a CPU that no worker would use;
  // without one, idle workers prepare, where there are workers to be idle
  // while one spawns. A current-thread runtime has neither.
  using Preparer = StackPool::Preparer;
  const Preparer prep = on_caller                  ? Preparer::none
                        : nworkers < cpus.usable() ? Preparer::thread
                        : nworkers >= 2            ? Preparer::workers
                                                   : Preparer::none;
  stacks.configure(cfg.stack_size(), cfg.stack_guard(), prep, cfg.thread_name_prefix() + "s", cpus,
                   [this] { notify_idle(); });
  if (cfg.max_blocking_threads() == 0) throw std::invalid_argument("weft: max_blocking_threads must be at least 1");
  blocking.configure(cfg.max_blocking_threads(), cfg.blocking_keep_alive(), cfg.thread_name_prefix() + "b", cpus);
  bridge_runtime_created(this);
}

RuntimeCore::~RuntimeCore() {
  shutdown();
  bridge_runtime_destroyed(this);
}

void RuntimeCore::start() {
  // Running or stopping: nothing to do, and no lock to take (a fiber that
  // spawns through its Runtime while a current-thread runtime shuts down runs
  // on the very thread that holds it).
  if (state_.load(std::memory_order_acquire) != kStopped) return;
  std::lock_guard<std::mutex> lk(lifecycle_mu_);
  if (state_.load() != kStopped) return;
  install_overflow_handler();
  bridge_attach();
  workers.clear();
  const unsigned total = nworkers + (on_caller ? 0 : cfg.max_spare_workers());
  for (unsigned i = 0; i < total; ++i) workers.push_back(std::make_unique<Worker>(this, i, epoch));
  searching_.store(0);
  sleeper_count_.store(0);
  sleepers_.clear();
  if (on_caller) {
    // No thread: the worker runs whenever a thread drives it (bind_caller).
    started_.store(1, std::memory_order_release);
    state_.store(kRunning, std::memory_order_seq_cst);
    logger().info("runtime started on its caller's thread");
    return;
  }
  state_.store(kRunning, std::memory_order_seq_cst);
  // Stuck time counts from now, not from the clock's epoch.
  watch_.assign(total, Watch{0, std::chrono::steady_clock::now(), false, -1});
  reactor.start(cfg.thread_name_prefix() + "r", [this] { monitor(); });
  for (unsigned i = 0; i < nworkers; ++i) {
    Worker* wp = workers[i].get();
    try {
      wp->thread = std::thread([wp] { wp->thread_main(); });
      started_.store(i + 1, std::memory_order_release);
    } catch (...) {
      // Undo: stop the threads that did start, then report.
      state_.store(kStopping);
      for (auto& v : workers) {
        if (v->thread.joinable()) {
          v->request_stop();
          v->thread.join();
        }
      }
      workers.clear();
      started_.store(0);
      reactor.stop();
      state_.store(kStopped);
      throw;
    }
  }
  logger().info("runtime started with {} workers", nworkers);
}

void RuntimeCore::shutdown() {
  std::unique_lock<std::mutex> lk(lifecycle_mu_);
  const bool own_fiber = current_worker() && current_worker()->rt == this;
  // A current-thread runtime stops on its own thread with this lock let go
  // (shutdown_on_caller): another thread's shutdown() waits for the end of
  // that, as it waits for the lock while a runtime with threads stops, so
  // that the runtime may be destroyed once it returns. Not a fiber of this
  // runtime: its thread is the one that must run the shutdown.
  if (!own_fiber) stopped_cv_.wait(lk, [this] { return state_.load() != kStopping; });
  if (state_.load() != kRunning) return;
  if (own_fiber) throw std::logic_error("weft: Runtime::shutdown() called from one of its own fibers");
  if (on_caller) {
    shutdown_on_caller(lk);
  } else {
    state_.store(kStopping, std::memory_order_seq_cst);
    cancel_all();
    wait_for_fibers();
    // The reactor thread starts spares: stop it first so none starts late.
    reactor.stop();
    for (auto& w : workers) w->request_stop();
    for (auto& w : workers)
      if (w->thread.joinable()) w->thread.join();
  }
  if (reactor.sources())
    logger().warn("shutdown: {} descriptors still registered (owned outside the runtime's fibers)", reactor.sources());
  blocking.stop();
  {
    std::lock_guard<std::mutex> ilk(inject_mu_);
    injected_.clear();  // empty by now: every fiber has finished
    injected_count_.store(0);
  }
  for (auto& w : workers) stacks.flush(w->stacks);
  stacks.reset();
  workers.clear();
  started_.store(0);
  state_.store(kStopped, std::memory_order_seq_cst);
  stopped_cv_.notify_all();  // under the lock: a waiter cannot destroy it before this
  logger().info("runtime stopped");
}

RuntimeCore* RuntimeCore::driven_here() noexcept { return tls_driven; }

void RuntimeCore::bind_caller() {
  start();
  std::lock_guard<std::mutex> lk(lifecycle_mu_);
  if (state_.load() != kRunning) throw RuntimeStopped();
  const auto me = std::this_thread::get_id();
  if (driver_ == me) return;
  if (driver_ != std::thread::id{})
    throw std::logic_error("weft: this current-thread runtime runs on another thread; call block_on() there");
  if (tls_driven)
    throw std::logic_error("weft: this thread already runs another current-thread runtime; shut that one down first");
  driver_ = me;
  tls_driven = this;
}

void RuntimeCore::join_driving(TaskBase* t) noexcept {
  CallerDrive drive(this);
  join_as_main(t, drive.self());
}

void RuntimeCore::shutdown_on_caller(std::unique_lock<std::mutex>& lk) {
  if (current_worker())
    throw std::logic_error("weft: a current-thread runtime cannot be shut down from a fiber: its thread must run it");
  const auto me = std::this_thread::get_id();
  if (driver_ != std::thread::id{} && driver_ != me)
    throw std::logic_error("weft: a current-thread runtime must be shut down on the thread that runs it");
  if (tls_driven && tls_driven != this)
    throw std::logic_error("weft: this thread runs another current-thread runtime; shut that one down first");
  state_.store(kStopping, std::memory_order_seq_cst);
  // Unlocked while fibers run on this thread: start() and shutdown() return at
  // once while stopping, and stats() may be called from a fiber.
  lk.unlock();
  {
    CallerDrive drive(this);
    cancel_all();
    wait_for_fibers(drive.self());
    drive.worker()->retire_caller();
  }
  lk.lock();
  tls_driven = nullptr;
  driver_ = std::thread::id{};
}

void RuntimeCore::cancel_all() noexcept {
  auto cancel_list = [](LiveList& l) { l.for_each([](FiberRecord* r) { cancel(r); }); };
  cancel_list(outside_live);
  for (auto& w : workers) cancel_list(w->live);
}

void RuntimeCore::wait_for_fibers(Ctx* self) noexcept {
  auto deadline = std::chrono::steady_clock::now() + cfg.shutdown_grace();
  for (;;) {
    std::uint32_t seq = exit_seq_.load(std::memory_order_acquire);
    if (live_count() == 0) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      log_stragglers();
      deadline = std::chrono::steady_clock::now() + cfg.shutdown_grace();
    }
    // Fibers that finish bump exit_seq_ (fiber_exited).
    std::unique_lock<std::mutex> lk(exit_mu_);
    if (!self) {
      // The timeout re-checks in any case.
      exit_cv_.wait_for(lk, std::chrono::milliseconds(100),
                        [&] { return exit_seq_.load(std::memory_order_acquire) != seq; });
      continue;
    }
    // This thread runs the fibers: its main context waits for the next exit,
    // or the end of the grace period, while they do.
    if (exit_seq_.load(std::memory_order_acquire) != seq) continue;
    const std::size_t epoch = new_epoch(self);
    exit_waiter_ = self;
    exit_epoch_ = epoch;
    lk.unlock();
    Worker* w = workers[0].get();
    TimerHandle timer = w->timers().arm(deadline, self, epoch);
    self->suspend();
    Timers::disarm(timer, &w->timers());
    lk.lock();
    exit_waiter_ = nullptr;
  }
}

void RuntimeCore::log_stragglers() noexcept {
  constexpr std::size_t kMaxNames = 16;
  std::string names;
  std::size_t n = 0;
  auto collect = [&](LiveList& l) {
    l.for_each([&](FiberRecord* r) {
      if (n++ >= kMaxNames) return;
      if (!names.empty()) names += ", ";
      names += '\'';
      names += *r->task->name() ? r->task->name() : "(unnamed)";
      names += '\'';
    });
  };
  collect(outside_live);
  for (auto& w : workers) collect(w->live);
  logger().error("shutdown: {} fibers still running after cancellation ({}{}); still waiting", n, names,
                 n > kMaxNames ? ", ..." : "");
}

void RuntimeCore::monitor() noexcept {
  // A worker that has picked no fiber since the last look is stuck in one:
  // fibers waiting behind it (its LIFO slot, its queue) need another worker,
  // so wake one if all are asleep, or start a spare if none is idle; and a
  // long stall is worth a warning.
  const auto now = std::chrono::steady_clock::now();
  const unsigned started = started_workers();
  bool waiting_behind_stuck = false;
  for (unsigned i = 0; i < started && i < watch_.size(); ++i) {
    Worker* w = workers[i].get();
    Watch& wt = watch_[i];
    std::uint64_t s = w->switches();
    if (s != wt.switches || w->idle()) {
      if (wt.reported)
        logger().warn("worker {} moves again after {} ms", i,
                      std::chrono::duration_cast<std::chrono::milliseconds>(now - wt.since).count());
      wt = Watch{s, now, false, -1};
      continue;
    }
    if (wt.cpu_ns < 0) wt.cpu_ns = cpu_ns(w->thread);
    const auto waited = std::chrono::duration_cast<std::chrono::nanoseconds>(now - wt.since);
    if (waited >= std::chrono::milliseconds(1)) {
      // Fibers woken for it by other threads go elsewhere from now on.
      w->mark_stuck();
      w->release_handoffs();
    }
    const bool behind = w->has_lifo() || w->queued() != 0 || has_injected();
    if (waited >= std::chrono::milliseconds(1) && behind) notify_idle();
    // A thread that merely waits for a CPU (more workers than cores, a busy
    // machine) is not stuck: another thread would not help it, so it gets no
    // spare, and its fiber is not at fault, so it counts no stall. cpu_used
    // is the CPU time the thread has had since its last switch (-1: unknown).
    auto cpu_used = [&]() -> std::int64_t {
      const std::int64_t cpu = cpu_ns(w->thread);
      return wt.cpu_ns >= 0 && cpu >= 0 ? cpu - wt.cpu_ns : -1;
    };
    if (waited >= kSpareDelay && behind) {
      // Stuck for real: blocked in the kernel, or computing (at least half a
      // CPU since its last switch).
      if (cpu_used() * 2 >= waited.count() || in_kernel_wait(w->tid.load(std::memory_order_relaxed)))
        waiting_behind_stuck = true;
    }
    const auto threshold = cfg.stall_threshold();
    auto at_fault = [&] {
      const std::int64_t used = cpu_used();
      return used < 0 || used * 2 >= std::chrono::nanoseconds(threshold).count() ||
             in_kernel_wait(w->tid.load(std::memory_order_relaxed));
    };
    if (!wt.reported && threshold.count() > 0 && waited >= threshold && at_fault()) {
      // A stall: the fiber has run without a pause for the threshold, and
      // computed for at least half of it (or blocks in the kernel).
      wt.reported = true;
      stalls_.fetch_add(1, std::memory_order_relaxed);
      logger().warn("worker {} has run fiber '{}' for {} ms without a pause; fibers queued behind it move to other "
                    "workers (use weft::unblock() for blocking calls)",
                    i, w->running_name(), std::chrono::duration_cast<std::chrono::milliseconds>(waited).count());
    }
  }
  if (waiting_behind_stuck && !has_idle() && started < workers.size()) start_spare();
  // Memory of stacks a burst of fibers left behind goes back here, off the
  // workers' path (see StackPool).
  stacks.trim();
}

void RuntimeCore::start_spare() noexcept {
  // Only the reactor thread gets here, and shutdown stops it before it stops
  // the workers, so a spare never starts behind shutdown's back.
  if (state_.load(std::memory_order_acquire) != kRunning) return;
  const unsigned i = started_workers();
  Worker* wp = workers[i].get();
  try {
    wp->thread = std::thread([wp] { wp->thread_main(); });
  } catch (const std::exception& e) {
    logger().warn("cannot start a spare worker: {}", e.what());
    return;
  }
  watch_[i] = Watch{wp->switches(), std::chrono::steady_clock::now(), false, -1};
  started_.store(i + 1, std::memory_order_release);
  logger().warn("every worker is stuck with fibers waiting: started spare worker {}", i);
}

void RuntimeCore::fiber_exited() noexcept {
  if (state_.load(std::memory_order_relaxed) == kStopping) {
    std::lock_guard<std::mutex> lk(exit_mu_);
    exit_seq_.fetch_add(1, std::memory_order_release);
    exit_cv_.notify_all();
    if (exit_waiter_) {
      wake(exit_waiter_, exit_epoch_);
      exit_waiter_ = nullptr;
    }
  }
}

std::size_t RuntimeCore::live_count() noexcept {
  std::size_t n = outside_live.size();
  for (auto& w : workers) n += w->live.size();
  return n;
}

void RuntimeCore::inject(Ctx* ctx) noexcept { inject_batch(&ctx, 1); }

void RuntimeCore::inject_batch(Ctx* const* ctxs, std::uint32_t n) noexcept {
  if (n == 0) return;
  {
    std::lock_guard<std::mutex> lk(inject_mu_);
    injected_.insert(injected_.end(), ctxs, ctxs + n);
    injected_count_.fetch_add(n, std::memory_order_release);
  }
  notify_idle();
}

Ctx* RuntimeCore::take_injected() noexcept {
  std::lock_guard<std::mutex> lk(inject_mu_);
  if (injected_.empty()) return nullptr;
  Ctx* ctx = injected_.front();
  injected_.pop_front();
  injected_count_.fetch_sub(1, std::memory_order_relaxed);
  return ctx;
}

void RuntimeCore::notify_idle() noexcept {
  if (started_workers() == 1) {
    // The only worker is awake if it is the caller.
    Worker* self = current_worker();
    if (self && self->rt == this) return;
  }
  // Pairs with the sleeper registering before its last look (suspend_until):
  // either it sees the work we just queued, or we see it asleep.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (searching_.load(std::memory_order_relaxed) != 0) return;
  if (sleeper_count_.load(std::memory_order_relaxed) == 0) return;
  Worker* w = nullptr;
  {
    std::lock_guard<std::mutex> lk(idle_mu_);
    if (sleepers_.empty() || searching_.load(std::memory_order_relaxed) != 0) return;
    w = sleepers_.back();
    sleepers_.pop_back();
    sleeper_count_.fetch_sub(1, std::memory_order_relaxed);
    searching_.fetch_add(1, std::memory_order_seq_cst);
    w->woken_searching.store(true, std::memory_order_release);
  }
  w->unpark();
}

void RuntimeCore::add_sleeper(Worker* w) noexcept {
  std::lock_guard<std::mutex> lk(idle_mu_);
  sleepers_.push_back(w);
  sleeper_count_.fetch_add(1, std::memory_order_seq_cst);
}

bool RuntimeCore::remove_sleeper(Worker* w) noexcept {
  std::lock_guard<std::mutex> lk(idle_mu_);
  auto it = std::find(sleepers_.begin(), sleepers_.end(), w);
  if (it == sleepers_.end()) return false;
  sleepers_.erase(it);
  sleeper_count_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

RuntimeStats RuntimeCore::stats() noexcept {
  RuntimeStats s;
  std::lock_guard<std::mutex> lk(lifecycle_mu_);
  s.live_fibers = live_count();
  std::int64_t stacks_in_use = stacks.in_use();
  for (auto& w : workers) stacks_in_use += w->stacks.taken.load(std::memory_order_relaxed);
  s.stacks_in_use = stacks_in_use > 0 ? static_cast<std::size_t>(stacks_in_use) : 0;
  s.stacks_reserved = stacks.reserved();
  s.stack_mappings = stacks.mappings();
  s.stacks_prepared = stacks.prepared();
  for (auto& w : workers) {
    s.steals += w->steals.load(std::memory_order_relaxed);
    s.parks += w->parks.load(std::memory_order_relaxed);
    s.spare_fibers += w->spare_fibers();
    if (w->thread.joinable()) ++s.workers_running;
    s.pending_timers += w->timers().pending();
  }
  if (on_caller && driver_ != std::thread::id{}) ++s.workers_running;  // the thread it is bound to
  s.spare_fibers += spares.size();
  s.registered_fds = reactor.sources();
  s.blocking_threads = blocking.threads();
  s.stalls = stalls_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace weft::detail
