// SpareFibers: the fibers a worker keeps between tasks (Worker::park_spare),
// most recently parked last, and how many of them to end.
//
// A spawn that reuses a spare skips building and tearing down a Boost.Fiber
// context (0.9 us a fiber on a 2-core VM, stacks warm) and a fresh stack's
// page faults. So every fiber that ends is kept, however many: a burst of
// short waits then makes far fewer fibers than it spawns (weft_micro's
// sleep_storm, 100k fibers sleeping 0-100 ms on one worker: 17% faster than
// with 32 kept). What a burst leaves goes by low-water mark: at the end of
// each half-second window, the spares no spawn of that window needed, beyond
// kKeep, are due to end, a batch at a time when their worker has nothing
// else to run.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <vector>

namespace weft::detail {

class FiberRecord;

class SpareFibers {
 public:
  // kKeep spares stay however long they go unused.
  static constexpr std::size_t kKeep = 32;
  static constexpr std::int64_t kWindowNs = 500'000'000;
  // Ended at once at most: each costs a switch and Boost's teardown.
  static constexpr std::size_t kBatch = 256;

  // put() keeps rec; false when the list cannot grow (out of memory).
  bool put(FiberRecord* rec) noexcept {
    if (list_.size() == list_.capacity()) {
      try {
        list_.reserve(std::max(kKeep, list_.size() * 2));
      } catch (const std::bad_alloc&) {
        return false;
      }
    }
    list_.push_back(rec);
    size_.store(list_.size(), std::memory_order_relaxed);
    return true;
  }

  // take() is the most recently kept spare (its stack is the warmest), or null.
  FiberRecord* take() noexcept {
    if (list_.empty()) return nullptr;
    FiberRecord* rec = list_.back();
    list_.pop_back();
    size_.store(list_.size(), std::memory_order_relaxed);
    low_ = std::min(low_, list_.size());
    return rec;
  }

  // due() is how many spares to end now (t: steady ns). A window that ends
  // sets the count: its low-water mark beyond kKeep.
  std::size_t due(std::int64_t t) noexcept {
    if (t - window_start_ >= kWindowNs) {
      excess_ = low_ > kKeep ? low_ - kKeep : 0;
      low_ = list_.size();
      window_start_ = t;
    }
    excess_ = std::min(excess_, list_.size());
    return std::min(excess_, kBatch);
  }
  // ended() counts n spares of due()'s ended.
  void ended(std::size_t n) noexcept {
    excess_ -= std::min(n, excess_);
    // The room a burst made in the list goes too (a pointer per fiber kept).
    if (list_.size() <= kKeep && list_.capacity() > 8 * kKeep) list_.shrink_to_fit();
  }

  // ending() is true while spares are due to end: an idle owner should not sleep.
  bool ending() const noexcept { return excess_ != 0; }
  // next_look() is when an idle owner should wake to close the window, in
  // steady ns: never while it keeps no more than kKeep.
  std::int64_t next_look() const noexcept {
    return list_.size() > kKeep ? window_start_ + kWindowNs : std::numeric_limits<std::int64_t>::max();
  }

  // size() counts the spares kept. Any thread (a snapshot).
  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }

 private:
  std::vector<FiberRecord*> list_;
  std::atomic<std::size_t> size_{0};
  std::size_t low_ = 0;            // fewest kept since window_start_
  std::int64_t window_start_ = 0;  // steady ns
  std::size_t excess_ = 0;         // still due to end
};

}  // namespace weft::detail
