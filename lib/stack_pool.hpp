// StackPool: fiber stacks carved from large reserved mappings and recycled, so
// that spawning in steady state costs no mmap/munmap.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <weft/config.hpp>

namespace weft::detail {

class CpuPlan;

// Stack is one fiber stack: usable memory [lo, hi), a guard page below lo when
// guarded. Memory is reserved, not committed: a fiber pays for what it touches.
struct Stack {
  char* lo = nullptr;
  char* hi = nullptr;
  bool guarded = false;
  std::size_t usable() const noexcept { return static_cast<std::size_t>(hi - lo); }
};

// StackCache is a worker's private stash of default-size stacks (no locking).
// taken counts the stacks acquired through it minus those released through it
// (negative when fibers that started elsewhere ended here): the owner updates
// it without a locked instruction, which a pool-wide counter would cost on
// every spawn and every fiber's end, and keep bouncing between cores.
struct StackCache {
  std::vector<Stack> stacks;
  std::atomic<std::int64_t> taken{0};
  void count(std::int64_t d) noexcept { taken.store(taken.load(std::memory_order_relaxed) + d, std::memory_order_relaxed); }
};

class StackPool {
 public:
  StackPool() = default;
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;
  ~StackPool();

  // Who commits the top pages of the next free stacks in a burst
  // (stack_preparer.cpp): nobody, a thread of the pool, or idle workers.
  enum class Preparer { none, thread, workers };

  // configure() sets the default size and guard policy; the pool must be empty.
  // prep chooses the preparer. A thread is named thread_name, starts once a
  // burst has carved a few hundred stacks, and runs on the CPUs cpus gives
  // helpers (cpus must outlive the pool). Idle workers are called for with
  // wake_worker (any thread), and do the work in prepare_some(). Throws
  // std::invalid_argument for a size it cannot honour.
  void configure(std::size_t default_usable, StackGuard guard, Preparer prep, std::string thread_name,
                 const CpuPlan& cpus, std::function<void()> wake_worker = {});

  // acquire() hands out a stack of at least `usable` bytes, from cache when
  // given and the size is the default one. Throws std::system_error (ENOMEM,
  // naming vm.max_map_count where it applies) when memory cannot be reserved.
  Stack acquire(std::size_t usable, StackCache* cache);

  // release() takes a stack back. cache may be null (any thread).
  void release(const Stack& s, StackCache* cache) noexcept;

  // flush() moves a cache's stacks back to the shared lists, and its count
  // of stacks taken into the pool's. The cache's owner must be stopped.
  void flush(StackCache& cache) noexcept;

  // trim() gives back the memory of free stacks beyond the most recently used
  // few thousand, once they have been in excess for half a second, and
  // returns the number of madvise() calls it made. One thread at a time (the
  // runtime's monitor calls it).
  std::size_t trim() noexcept;

  // reset() stops the preparer and unmaps everything; all stacks must have
  // been released.
  void reset() noexcept;

  std::size_t default_usable() const noexcept { return default_usable_; }
  // in_use() counts stacks taken without a cache; add each cache's taken.
  std::int64_t in_use() const noexcept { return in_use_.load(std::memory_order_relaxed); }
  std::size_t reserved() const noexcept { return reserved_.load(std::memory_order_relaxed); }
  std::size_t mappings() const noexcept { return mappings_.load(std::memory_order_relaxed); }
  // prepared() counts the stacks the preparer has made ready (committed
  // their top page), over the pool's whole life: reset() keeps the count.
  std::size_t prepared() const noexcept { return prepared_.load(std::memory_order_relaxed); }

  // With Preparer::workers: preparing_wanted() says a burst is drawing on the
  // pool faster than stacks are ready, and an idle worker should call
  // prepare_some(), which readies a few (a few microseconds) and returns
  // false once there was nothing to do.
  bool preparing_wanted() const noexcept { return prep_ == Preparer::workers && wanted(); }
  bool prepare_some() noexcept;

 private:
  using Slab = std::pair<void*, std::size_t>;
  struct FreeList;
  // map_slab() reserves a slab of stacks of one size, guard pages installed,
  // and appends its stacks to `into`: as many as `carved`, the stacks of
  // that size carved so far, within bounds. Touches no shared state but
  // counters, so needs no lock.
  Slab map_slab(std::size_t usable, std::size_t carved, std::vector<Stack>& into);
  // grow() maps one more slab for fl (stacks of `usable` bytes) and files
  // its stacks as cold. Under mu_, held by lk, which it lets go of while it
  // maps, and holds again when it returns or throws. Throws what map_slab()
  // throws, or std::bad_alloc (then the slab is unmapped again). If another
  // thread is growing fl already, it waits for that slab instead of mapping
  // one more (the caller looks at fl again either way).
  void grow(std::size_t usable, FreeList& fl, std::unique_lock<std::mutex>& lk);
  // grow_ahead() is grow() before fl runs out, in a burst (stack_pool.cpp).
  // Under mu_, held by lk as for grow(). A failure is left to the acquire()
  // that finds fl empty.
  void grow_ahead(std::size_t usable, FreeList& fl, std::unique_lock<std::mutex>& lk) noexcept;
  // slab_count() is how many stacks of `usable` bytes the next slab holds,
  // `carved` of them carved so far.
  std::size_t slab_count(std::size_t usable, std::size_t carved) const noexcept;
  // Once this many stacks of a size are carved, the pool is in a burst, not
  // serving a program's few hundred fibers: the next slab is mapped before
  // the free ones run out (grow_ahead()), and the preparer is called for
  // (note_demand()).
  static constexpr std::size_t kBurst = 256;
  bool guard_wanted() const noexcept { return guard_ != StackGuard::never; }
  // mprotect_guards() is true when guards cost two mappings a stack (no
  // MADV_GUARD_INSTALL): then no stack is carved ahead of need.
  bool mprotect_guards() const noexcept;
  // count() adds d to the stacks taken: cache's count, or in_use_ without one.
  void count(StackCache* cache, std::int64_t d) noexcept;

  std::size_t default_usable_ = 128 * 1024;
  StackGuard guard_ = StackGuard::automatic;

  // FreeList holds the free stacks of one size: hot ones (returned with
  // their touched pages, most recent last), ready ones (never used, top page
  // committed by the preparer) and cold ones (never used, or trimmed). Hot
  // and cold have room for every stack of that size ever carved, so
  // returning one never allocates; ready has room for as many as the
  // preparer ever keeps.
  struct FreeList {
    std::vector<Stack> hot;
    std::vector<Stack> ready;
    std::vector<Stack> cold;
    std::size_t carved = 0;  // stacks of this size ever carved
    bool growing = false;    // a thread is mapping a slab for this list
    bool empty() const noexcept { return hot.empty() && ready.empty() && cold.empty(); }
    std::size_t size() const noexcept { return hot.size() + ready.size() + cold.size(); }
    Stack take() noexcept {
      std::vector<Stack>& from = !hot.empty() ? hot : !ready.empty() ? ready : cold;
      Stack s = from.back();
      from.pop_back();
      return s;
    }
  };

  // The preparer (stack_preparer.cpp).
  // note_demand() is acquire()'s report, under mu_, that it took default-size
  // stacks past the hot ones, `faulting` of them cold. True: the caller must
  // call kick_preparer() once it has let go of mu_.
  bool note_demand(FreeList& fl, std::size_t faulting) noexcept;
  // wanted() is prep_wanted_: ready stacks are wanted.
  bool wanted() const noexcept { return prep_wanted_.load(std::memory_order_relaxed); }
  void kick_preparer() noexcept;
  void prepare_loop() noexcept;
  // prepare_batch() moves up to n (at most kPrepBatch) cold stacks of the
  // default size to ready, their top page committed while mu_ (held by lk)
  // is let go. ready must have room for them.
  void prepare_batch(FreeList& fl, std::size_t n, std::unique_lock<std::mutex>& lk) noexcept;
  // stop_preparer() joins the preparer thread. Not under mu_.
  void stop_preparer() noexcept;

  std::mutex mu_;
  std::condition_variable grown_cv_;  // a slab was filed (FreeList::growing)
  std::unordered_map<std::size_t, FreeList> free_;  // by usable size
  std::atomic<bool> excess_{false};  // some hot list may have grown past what trim() keeps
  std::int64_t excess_since_ = -1;   // when trim() first saw excess_ (steady ns), for trim() alone
  // slabs_ are the mappings to unmap at reset().
  std::vector<Slab> slabs_;

  Preparer prep_ = Preparer::none;
  std::string prep_name_;
  std::function<void()> wake_worker_;
  const CpuPlan* cpus_ = nullptr;  // set by configure()
  std::thread prep_thread_;
  std::condition_variable prep_cv_;
  std::size_t ready_target_ = 0;  // stacks the preparer keeps ready (under mu_)
  // Ready stacks are wanted. Written under mu_; idle workers read it without
  // (preparing_wanted()), as a hint that prepare_some() checks again.
  std::atomic<bool> prep_wanted_{false};
  bool prep_stop_ = false;        // under mu_
  bool prep_started_ = false;     // under mu_: a thread was started, or failed to
  std::atomic<std::size_t> prepared_{0};

  std::atomic<std::int64_t> in_use_{0};
  std::atomic<std::size_t> reserved_{0};
  std::atomic<std::size_t> mappings_{0};
};

}  // namespace weft::detail
