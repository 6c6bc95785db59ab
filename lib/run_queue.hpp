// RunQueue: a worker's bounded queue of ready fibers. The owner pushes and pops
// at its ends without locks; other workers steal half of it at once.
//
// The layout follows Tokio's local queue: `head_` packs two 32-bit indices,
// `steal` (first slot a stealer is still copying) and `real` (first slot not yet
// taken). While steal != real a steal is in flight and the owner must not reuse
// those slots, so push() counts free room from `steal`. Only the owner writes
// `tail_`. Indices wrap; slot = index & kMask.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace weft::detail {

template <class T>
class RunQueue {
 public:
  static constexpr std::uint32_t kCapacity = 256;

  // push() appends item; false when full (the caller then moves half out with
  // take_half() and sends it elsewhere). Owner only.
  bool push(T* item) noexcept {
    std::uint32_t t = tail_.load(std::memory_order_relaxed);
    std::uint64_t h = head_.load(std::memory_order_acquire);
    if (t - steal_of(h) >= kCapacity) return false;
    slots_[t & kMask].store(item, std::memory_order_relaxed);
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  // take_half() removes the oldest half of a full queue into out (kCapacity/2
  // entries) and returns how many it took: 0 if a steal is in flight (the queue
  // is about to shrink, so push() may be retried). Owner only.
  std::uint32_t take_half(T** out) noexcept {
    std::uint64_t h = head_.load(std::memory_order_acquire);
    std::uint32_t real = real_of(h);
    if (steal_of(h) != real) return 0;
    std::uint32_t n = kCapacity / 2;
    if (tail_.load(std::memory_order_relaxed) - real < n) return 0;
    if (!head_.compare_exchange_strong(h, pack(real + n, real + n), std::memory_order_acq_rel)) return 0;
    for (std::uint32_t i = 0; i < n; ++i) out[i] = slots_[(real + i) & kMask].load(std::memory_order_relaxed);
    return n;
  }

  // pop() removes the oldest item, or returns null. Owner only.
  T* pop() noexcept {
    std::uint64_t h = head_.load(std::memory_order_acquire);
    for (;;) {
      std::uint32_t steal = steal_of(h), real = real_of(h);
      if (real == tail_.load(std::memory_order_relaxed)) return nullptr;
      std::uint64_t next = steal == real ? pack(real + 1, real + 1) : pack(steal, real + 1);
      if (head_.compare_exchange_weak(h, next, std::memory_order_acq_rel, std::memory_order_acquire))
        return slots_[real & kMask].load(std::memory_order_relaxed);
    }
  }

  // steal_into() moves half of this queue (rounded up) into dst, which must be
  // empty, and returns one of the moved items for the caller to run; null if
  // there was nothing to take or another steal is in flight. Called by dst's
  // owner.
  T* steal_into(RunQueue& dst) noexcept {
    std::uint32_t dst_tail = dst.tail_.load(std::memory_order_relaxed);
    std::uint64_t h = head_.load(std::memory_order_acquire);
    std::uint32_t first, n;
    for (;;) {
      std::uint32_t steal = steal_of(h), real = real_of(h);
      if (steal != real) return nullptr;
      std::uint32_t avail = tail_.load(std::memory_order_acquire) - real;
      n = avail - avail / 2;
      if (n == 0) return nullptr;
      if (n > kCapacity / 2) n = kCapacity / 2;
      if (head_.compare_exchange_weak(h, pack(steal, real + n), std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        first = real;
        break;
      }
    }
    for (std::uint32_t i = 0; i < n; ++i) {
      T* item = slots_[(first + i) & kMask].load(std::memory_order_relaxed);
      dst.slots_[(dst_tail + i) & kMask].store(item, std::memory_order_relaxed);
    }
    // Close the steal: the owner may reuse the copied slots from now on.
    h = head_.load(std::memory_order_acquire);
    while (!head_.compare_exchange_weak(h, pack(real_of(h), real_of(h)), std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
    }
    --n;
    T* ret = dst.slots_[(dst_tail + n) & kMask].load(std::memory_order_relaxed);
    if (n) dst.tail_.store(dst_tail + n, std::memory_order_release);
    return ret;
  }

  // first_hint()/end_hint() are the index of the oldest queued item and the
  // index one past the newest, possibly stale; indices only grow (and wrap),
  // so another thread can tell whether items it saw queued have left since.
  // Any thread.
  std::uint32_t first_hint() const noexcept { return real_of(head_.load(std::memory_order_acquire)); }
  std::uint32_t end_hint() const noexcept { return tail_.load(std::memory_order_acquire); }

  // peek_hint(i) is the item i places after the oldest queued one, or null:
  // the one the i+1-th pop() from now would return unless stealers take it,
  // so only a hint (it may be running elsewhere already). Owner only.
  T* peek_hint(std::uint32_t i = 0) const noexcept {
    const std::uint32_t real = real_of(head_.load(std::memory_order_relaxed));
    if (tail_.load(std::memory_order_relaxed) - real <= i) return nullptr;
    return slots_[(real + i) & kMask].load(std::memory_order_relaxed);
  }

  // size_hint() is the number of queued items, possibly stale. Any thread.
  std::uint32_t size_hint() const noexcept {
    std::uint64_t h = head_.load(std::memory_order_acquire);
    std::uint32_t t = tail_.load(std::memory_order_acquire);
    return t - real_of(h);
  }

 private:
  static constexpr std::uint32_t kMask = kCapacity - 1;
  static std::uint32_t steal_of(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h >> 32); }
  static std::uint32_t real_of(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h); }
  static std::uint64_t pack(std::uint32_t steal, std::uint32_t real) noexcept {
    return (static_cast<std::uint64_t>(steal) << 32) | real;
  }

  alignas(64) std::atomic<std::uint64_t> head_{0};
  alignas(64) std::atomic<std::uint32_t> tail_{0};
  std::atomic<T*> slots_[kCapacity] = {};
};

}  // namespace weft::detail
