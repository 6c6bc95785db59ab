// LiveList: the fibers alive in one runtime, so that shutdown can cancel them.
// A runtime keeps one list per worker (spawns there touch only that list's
// lock) and one for spawns from outside threads.
//
// A table of slots rather than a linked list: a fiber joins and leaves
// touching only the list (its lock and one slot) and its own record.
// Unlinking from a doubly linked list writes both neighbours' records, which
// live at the top of other fibers' stacks: two cold lines, each on a page of
// its own, for every fiber that ends out of order (weft_micro's sleep_storm
// spent 5% of its time there). Free slots are chained through the table, the
// most recently freed first, so a steady flow of spawns keeps reusing a few
// warm lines. The table keeps its high-water mark: 8 bytes per fiber that was
// ever alive at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "fiber_record.hpp"
#include "spin_lock.hpp"

namespace weft::detail {

class LiveList {
 public:
  // claim() reserves a slot for a fiber about to go live. Throws
  // std::bad_alloc when the table must grow and cannot.
  std::uint32_t claim() {
    for (;;) {
      {
        std::lock_guard<SpinLock> g(lock_);
        if (free_ != kNone) {
          const std::uint32_t i = free_;
          free_ = static_cast<std::uint32_t>(at(i) >> 1);
          at(i) = kClaimed;
          return i;
        }
      }
      grow();
    }
  }

  // fill() puts rec, about to run, in the slot claim() gave.
  void fill(std::uint32_t slot, FiberRecord* rec) noexcept {
    rec->live_list = this;
    rec->live_slot = slot;
    std::lock_guard<SpinLock> g(lock_);
    at(slot) = reinterpret_cast<std::uintptr_t>(rec);
    ++count_;
  }

  // unclaim() gives back a slot claimed for a spawn that failed.
  void unclaim(std::uint32_t slot) noexcept {
    std::lock_guard<SpinLock> g(lock_);
    release(slot);
  }

  // remove() takes out rec, whose task has ended.
  void remove(FiberRecord* rec) noexcept {
    std::lock_guard<SpinLock> g(lock_);
    release(rec->live_slot);
    --count_;
  }

  // for_each() calls f(FiberRecord*) for each live fiber, under the lock.
  template <class F>
  void for_each(F&& f) noexcept {
    std::lock_guard<SpinLock> g(lock_);
    for (const auto& chunk : chunks_) {
      for (std::size_t i = 0; i < kChunk; ++i) {
        const std::uintptr_t v = chunk[i];
        if (v != kClaimed && !(v & 1)) f(reinterpret_cast<FiberRecord*>(v));
      }
    }
  }

  std::size_t size() noexcept {
    std::lock_guard<SpinLock> g(lock_);
    return count_;
  }

 private:
  // A slot holds a record's address (even, never null), kClaimed, or, when
  // free, the next free slot's index shifted left and tagged with a 1.
  static constexpr std::uint32_t kNone = UINT32_MAX;
  static constexpr std::uintptr_t kClaimed = 0;
  static constexpr unsigned kChunkShift = 9;
  static constexpr std::size_t kChunk = std::size_t{1} << kChunkShift;  // slots: 4 KiB

  std::uintptr_t& at(std::uint32_t i) noexcept { return chunks_[i >> kChunkShift][i & (kChunk - 1)]; }

  void release(std::uint32_t i) noexcept {
    at(i) = (std::uintptr_t{free_} << 1) | 1;
    free_ = i;
  }

  // grow() adds a chunk of free slots. The memory comes outside the lock.
  void grow() {
    auto chunk = std::make_unique<std::uintptr_t[]>(kChunk);
    std::lock_guard<SpinLock> g(lock_);
    if (free_ != kNone) return;  // another thread grew it meanwhile: keep ours out
    chunks_.push_back(std::move(chunk));
    const auto base = static_cast<std::uint32_t>((chunks_.size() - 1) << kChunkShift);
    // Chained in order, so that slots are taken from the start of the chunk.
    for (std::size_t i = kChunk; i-- > 0;) release(base + static_cast<std::uint32_t>(i));
  }

  SpinLock lock_;
  std::vector<std::unique_ptr<std::uintptr_t[]>> chunks_;
  std::uint32_t free_ = kNone;  // the first free slot
  std::size_t count_ = 0;       // filled slots
};

}  // namespace weft::detail
