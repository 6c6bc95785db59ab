// The short busy waits of channels: ChannelLock, the lock of one channel, and
// Spinner, the brief wait of a sender or receiver before it parks. No API
// promise.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace weft::detail {

// ChannelLock guards a channel's buffer and wait queues. Its critical sections
// are a few dozen instructions plus, at most, the wake of one waiter, and they
// never park; so it is a test-and-test-and-set spinlock whose unlock is a
// plain store: one atomic read-modify-write per lock/unlock pair, where a
// futex-based lock needs two (each costs ~20 ns on these VMs, as much as the
// rest of a send). A thread that keeps finding it taken yields its CPU, so a
// holder preempted by the kernel (more workers or threads than cores) gets to
// run. It spins the worker thread, not just the fiber: never hold it across a
// park.
class ChannelLock {
 public:
  ChannelLock() noexcept = default;
  ChannelLock(const ChannelLock&) = delete;
  ChannelLock& operator=(const ChannelLock&) = delete;

  void lock() noexcept {
    if (!word_.exchange(1, std::memory_order_acquire)) return;
    lock_slow();
  }

  void unlock() noexcept { word_.store(0, std::memory_order_release); }

 private:
  void lock_slow() noexcept;

  std::atomic<std::uint32_t> word_{0};  // 1 while held
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

// Spinner paces the short busy wait of a sender or receiver that found its
// channel not ready, before it parks. A counterpart running on another thread
// usually acts within a microsecond or two, far less than a park plus a
// cross-thread wake cost, and waiting it out keeps a producer and a consumer
// on two workers streaming instead of waking each other every few values.
// The wait does not yield: a yielded fiber is offered to other workers, which
// would move it about. So only spin when the counterpart last ran on another
// thread (see thread_site()): on the same worker it cannot act meanwhile.
// And only when the caller stays put (stays_put()): a fiber that may move is
// better parked, since its waker brings it over to its own worker, and the
// two then run back to back there, without the lock and the values crossing
// between two cores on every operation.
class Spinner {
 public:
  // Spinner(d) starts a budget of a few microseconds, cut short by d.
  explicit Spinner(std::chrono::steady_clock::time_point d) noexcept;

  // next() waits a moment; false once the budget is spent: then park.
  bool next() noexcept;

 private:
  std::chrono::steady_clock::time_point end_;  // when the budget runs out
  unsigned steps_ = 0;                         // steps taken
};

// thread_site() identifies the calling OS thread (a worker, or a plain
// thread), cheaply: channels note where each side last ran, to decide whether
// spinning can pay off.
std::uintptr_t thread_site() noexcept;

// stays_put() is true when the caller cannot move to another worker: a
// plain thread, a spawn_local fiber, or a fiber of a one-worker runtime.
bool stays_put() noexcept;

// Sites records where a channel's senders and receivers last ran. Relaxed
// loads and stores: a stale value only costs a useless spin or a park.
struct Sites {
  std::atomic<std::uintptr_t> sender{0};
  std::atomic<std::uintptr_t> receiver{0};

  static void note(std::atomic<std::uintptr_t>& at, std::uintptr_t me) noexcept {
    if (at.load(std::memory_order_relaxed) != me) at.store(me, std::memory_order_relaxed);
  }
  // elsewhere() is true when `other` is known and is not the caller's thread.
  static bool elsewhere(const std::atomic<std::uintptr_t>& other, std::uintptr_t me) noexcept {
    const std::uintptr_t o = other.load(std::memory_order_relaxed);
    return o != 0 && o != me;
  }
};

}  // namespace weft::detail
