// The stack preparer: committing the top page of the next free stacks
// before a worker needs them, on a thread of the pool or on idle workers.
//
// A fiber's first run touches the top page of its stack (its record, its
// context and its first frames). On a stack never used, or trimmed, that
// touch is a page fault (about 1.5 us: a page allocated, zeroed and charged
// to the cgroup), and a slab carved on a worker also installs its guard
// pages there (0.3 us a stack). In a burst of spawns that no finished fiber
// can serve (100k fibers sleeping 0-100 ms keep 31-37k stacks in use at
// once), that is a third of the spawning worker's time. The preparer takes
// that work off the spawning worker: when a worker's stack cache refills
// past the hot (already used) stacks, the pool asks for the next few to be
// kept ready, their top page committed; workers take ready stacks after hot
// ones and before cold ones. The worker that finds none ready faults its
// own, as without a preparer, and the pool then keeps twice as many ready,
// since the burst is outrunning it. trim() gives ready stacks back with the
// rest once the burst is over.
//
// Who prepares (the runtime decides):
//   - A thread of the pool, where it uses a CPU no worker would (64 up to
//     1,024 stacks ready: 4 MiB at most). It starts once a burst has carved
//     a few hundred stacks, so a runtime that never has one never starts it;
//     if it cannot start, workers fault their stacks as before. (weft_micro's
//     sleep_storm on one worker: 2,545 ns a fiber against 2,834 without.)
//   - Otherwise idle workers, between looking for work (Worker::suspend_until),
//     a few stacks at a time (prepare_some). A worker idle in a burst is
//     usually the one whose fibers the spawner's have not reached; it prepares
//     only between its own, so the pool keeps a deeper reserve for it (up to
//     4,096 ready: 16 MiB). They also map the next slab, guard pages and
//     all, while a whole slab's worth is still free, before the spawner's
//     acquire() would (grow_ahead, at half). Preparing stacks beats building
//     whole fibers ahead for the spawner (Worker::build_ahead), which idle
//     workers do only once enough stacks are ready: a fiber built on one core
//     and adopted on another costs both cores its cache lines, a stack only
//     its fault. (sleep_storm on two workers: 3% less wall time for the
//     pages; for the slabs, 2-4% more while other programs kept the CPUs
//     busy, none measurable on a quiet machine.)
// Never with mprotect() guards, which spend mappings: the thread carves
// slabs ahead of need.
//
// Either touches only stacks it has taken out of every list, so no fiber
// runs on them meanwhile, and writes only the byte at a stack's top, which no
// fiber has yet (the pages of a never used or trimmed stack read as zero).
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <exception>
#include <new>

#include "cpu_plan.hpp"
#include "log.hpp"
#include "stack_pool.hpp"

namespace weft::detail {

namespace {
constexpr std::size_t kReadyMin = 64;
constexpr std::size_t kReadyMaxThread = 1024;
constexpr std::size_t kReadyMaxWorkers = 4096;
constexpr std::size_t kPrepBatch = 32;   // stacks the thread prepares per turn of the lock
constexpr std::size_t kWorkerBatch = 8;  // and an idle worker between two looks for work

void commit_top_page(const Stack& s) noexcept { *reinterpret_cast<volatile char*>(s.hi - 1) = 0; }
}  // namespace

bool StackPool::note_demand(FreeList& fl, std::size_t faulting) noexcept {
  // A program with a few hundred fibers never needs preparing.
  if (prep_ == Preparer::none || fl.carved < kBurst) return false;
  // The worker faults stacks itself: the preparer is behind, or was idle.
  const std::size_t most = prep_ == Preparer::thread ? kReadyMaxThread : kReadyMaxWorkers;
  if (faulting) ready_target_ = std::clamp(ready_target_ * 2, kReadyMin, most);
  if (wanted() || prep_stop_ || fl.ready.size() >= ready_target_ / 2) return false;
  prep_wanted_.store(true, std::memory_order_relaxed);
  return true;
}

void StackPool::prepare_batch(FreeList& fl, std::size_t n, std::unique_lock<std::mutex>& lk) noexcept {
  Stack batch[kPrepBatch];
  n = std::min({n, kPrepBatch, fl.cold.size()});
  std::copy(fl.cold.end() - static_cast<std::ptrdiff_t>(n), fl.cold.end(), batch);
  fl.cold.resize(fl.cold.size() - n);
  lk.unlock();
  for (std::size_t i = 0; i < n; ++i) commit_top_page(batch[i]);
  prepared_.fetch_add(n, std::memory_order_relaxed);
  lk.lock();
  fl.ready.insert(fl.ready.end(), batch, batch + n);
}

bool StackPool::prepare_some() noexcept {
  std::unique_lock<std::mutex> lk(mu_);
  if (!wanted()) return false;
  FreeList& fl = free_[default_usable_];  // a node: stays put while the lock is let go
  // Map the next slab while a whole one's worth is still free, before the
  // spawning worker's acquire() would at half (grow_ahead): its guard pages
  // (0.3 us a stack) are then placed here too. This worker is deaf to its
  // own fibers meanwhile (a fraction of a millisecond), but it had none.
  if (!fl.growing && fl.size() < slab_count(default_usable_, fl.carved)) {
    try {
      grow(default_usable_, fl, lk);
      return true;
    } catch (...) {
      // Out of memory or mappings: the acquire() that finds the list empty
      // meets it again and reports it.
    }
  }
  if (fl.ready.size() >= ready_target_ || fl.cold.empty()) {
    prep_wanted_.store(false, std::memory_order_relaxed);
    return false;
  }
  try {
    fl.ready.reserve(kReadyMaxWorkers);  // so that filing a batch never allocates
  } catch (const std::bad_alloc&) {
    prep_wanted_.store(false, std::memory_order_relaxed);  // the spawns fault their own, and meet the shortage there
    return false;
  }
  prepare_batch(fl, std::min(kWorkerBatch, ready_target_ - fl.ready.size()), lk);
  return true;
}

void StackPool::kick_preparer() noexcept {
  if (prep_ == Preparer::workers) {
    wake_worker_();
    return;
  }
  bool start;
  {
    std::lock_guard<std::mutex> lk(mu_);
    start = !prep_started_;
    prep_started_ = true;  // once: a thread that failed to start is not retried
  }
  if (start) {
    try {
      prep_thread_ = std::thread([this] {
        // No signal is for it: a process-directed one goes to a thread that
        // may want it.
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, nullptr);
        // Started from a worker: on a pinned one it would share that CPU.
        cpus_->place_helper();
        pthread_setname_np(pthread_self(), prep_name_.substr(0, 15).c_str());
        prepare_loop();
      });
    } catch (const std::exception& e) {
      logger().warn("stack preparer not started ({}): workers commit their own stacks", e.what());
      return;  // prep_wanted_ stays set, so nobody asks again
    }
  }
  prep_cv_.notify_one();
}

void StackPool::prepare_loop() noexcept {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    prep_cv_.wait(lk, [this] { return prep_stop_ || wanted(); });
    if (prep_stop_) return;
    try {
      FreeList& fl = free_[default_usable_];  // a node: stays put while the lock is let go
      fl.ready.reserve(kReadyMaxThread);      // so that filing a batch never allocates
      while (!prep_stop_ && fl.ready.size() < ready_target_) {
        if (fl.cold.empty()) {
          grow(default_usable_, fl, lk);
          continue;
        }
        prepare_batch(fl, ready_target_ - fl.ready.size(), lk);
      }
    } catch (const std::exception& e) {
      // Out of memory or mappings: the workers meet it too, and report it.
      if (!lk.owns_lock()) lk.lock();
      logger().debug("stack preparer: {}", e.what());
    }
    prep_wanted_.store(false, std::memory_order_relaxed);
  }
}

void StackPool::stop_preparer() noexcept {
  {
    std::lock_guard<std::mutex> lk(mu_);
    prep_stop_ = true;
  }
  prep_cv_.notify_all();
  if (prep_thread_.joinable()) prep_thread_.join();
  std::lock_guard<std::mutex> lk(mu_);
  prep_stop_ = prep_started_ = false;
  prep_wanted_.store(false, std::memory_order_relaxed);
  ready_target_ = 0;
}

}  // namespace weft::detail
