// The contended half of ChannelLock: a bounded spin, then a futex sleep (the
// three-state mutex of Drepper's "Futexes Are Tricky"): kContended tells the
// unlocker that someone may sleep and needs a FUTEX_WAKE.
#include <weft/detail/channel_lock.hpp>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace weft::detail {

namespace {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spin long enough to cover a critical section that wakes a waiter on another
// worker (a remote-queue push, rarely a futex wake: a few microseconds), not so
// long that a preempted holder costs much CPU.
constexpr int kSpins = 128;

}  // namespace

void ChannelLock::lock_slow() noexcept {
  for (int i = 0; i < kSpins; ++i) {
    std::uint32_t w = word_.load(std::memory_order_relaxed);
    if (w == kFree) {
      if (word_.compare_exchange_weak(w, kHeld, std::memory_order_acquire,
                                      std::memory_order_relaxed))
        return;
    } else if (w == kContended) {
      break;  // others sleep already: queue behind them rather than spin
    }
    cpu_relax();
  }
  // Taking the word as kContended may over-report sleepers (one spare wake on
  // unlock), never under-report them.
  while (word_.exchange(kContended, std::memory_order_acquire) != kFree) {
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word_), FUTEX_WAIT_PRIVATE, kContended,
            nullptr, nullptr, 0);
  }
}

void ChannelLock::wake_one() noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word_), FUTEX_WAKE_PRIVATE, 1, nullptr,
          nullptr, 0);
}

}  // namespace weft::detail
