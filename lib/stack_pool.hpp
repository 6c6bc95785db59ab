// StackPool: fiber stacks carved from large reserved mappings and recycled, so
// that spawning in steady state costs no mmap/munmap.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <weft/config.hpp>

namespace weft::detail {

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

  // configure() sets the default size and guard policy; the pool must be empty.
  // Throws std::invalid_argument for a size it cannot honour.
  void configure(std::size_t default_usable, StackGuard guard);

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

  // reset() unmaps everything; all stacks must have been released.
  void reset() noexcept;

  std::size_t default_usable() const noexcept { return default_usable_; }
  // in_use() counts stacks taken without a cache; add each cache's taken.
  std::int64_t in_use() const noexcept { return in_use_.load(std::memory_order_relaxed); }
  std::size_t reserved() const noexcept { return reserved_.load(std::memory_order_relaxed); }
  std::size_t mappings() const noexcept { return mappings_.load(std::memory_order_relaxed); }

 private:
  // carve() maps a slab of stacks of one size and fills the shared list.
  void carve(std::size_t usable, std::vector<Stack>& into);
  bool guard_wanted() const noexcept { return guard_ != StackGuard::never; }
  // count() adds d to the stacks taken: cache's count, or in_use_ without one.
  void count(StackCache* cache, std::int64_t d) noexcept;

  std::size_t default_usable_ = 128 * 1024;
  StackGuard guard_ = StackGuard::automatic;

  // FreeList holds the free stacks of one size: hot ones (returned with
  // their touched pages, most recent last) and cold ones (never used, or
  // trimmed). Both have room for every stack of that size ever carved, so
  // returning one never allocates.
  struct FreeList {
    std::vector<Stack> hot;
    std::vector<Stack> cold;
    std::size_t carved = 0;  // stacks of this size ever carved
    Stack take() noexcept {
      std::vector<Stack>& from = hot.empty() ? cold : hot;
      Stack s = from.back();
      from.pop_back();
      return s;
    }
  };

  std::mutex mu_;
  std::unordered_map<std::size_t, FreeList> free_;  // by usable size
  std::atomic<bool> excess_{false};  // some hot list may have grown past what trim() keeps
  std::int64_t excess_since_ = -1;   // when trim() first saw excess_ (steady ns), for trim() alone
  // slabs_ are the mappings to unmap at reset().
  std::vector<std::pair<void*, std::size_t>> slabs_;

  std::atomic<std::int64_t> in_use_{0};
  std::atomic<std::size_t> reserved_{0};
  std::atomic<std::size_t> mappings_{0};
};

}  // namespace weft::detail
