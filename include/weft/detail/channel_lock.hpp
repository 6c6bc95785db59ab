// weft::detail::ChannelLock: the lock of one channel. No API promise.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::detail {

// ChannelLock guards a channel's buffer and wait queues. Its critical sections
// are a few dozen instructions plus, at most, the wake of one waiter; they
// never park. So it spins first, and only a thread that still finds it taken
// sleeps on a futex: with more workers (or plain threads) than cores, a holder
// preempted by the kernel then gets its CPU back instead of being spun against.
// It blocks the worker thread, not just the fiber: never hold it across a park.
class ChannelLock {
 public:
  ChannelLock() noexcept = default;
  ChannelLock(const ChannelLock&) = delete;
  ChannelLock& operator=(const ChannelLock&) = delete;

  // lock() takes the lock: one compare-and-swap when it is free.
  void lock() noexcept {
    std::uint32_t expected = kFree;
    if (word_.compare_exchange_weak(expected, kHeld, std::memory_order_acquire,
                                    std::memory_order_relaxed))
      return;
    lock_slow();
  }

  // unlock() releases it and wakes one sleeper if any marked the word.
  void unlock() noexcept {
    if (word_.exchange(kFree, std::memory_order_release) == kContended) wake_one();
  }

 private:
  static constexpr std::uint32_t kFree = 0, kHeld = 1, kContended = 2;
  void lock_slow() noexcept;
  void wake_one() noexcept;

  std::atomic<std::uint32_t> word_{kFree};  // kFree, kHeld, or kContended (held, sleepers may wait)
};

// ChannelGuard holds a ChannelLock for a scope; unlock() ends it early.
class ChannelGuard {
 public:
  explicit ChannelGuard(ChannelLock& l) noexcept : lock_(&l) { l.lock(); }
  ~ChannelGuard() {
    if (lock_) lock_->unlock();
  }
  ChannelGuard(const ChannelGuard&) = delete;
  ChannelGuard& operator=(const ChannelGuard&) = delete;
  void unlock() noexcept {
    lock_->unlock();
    lock_ = nullptr;
  }

 private:
  ChannelLock* lock_;
};

}  // namespace weft::detail
