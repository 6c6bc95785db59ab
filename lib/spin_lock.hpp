// SpinLock: a test-and-test-and-set lock for critical sections of a few
// instructions (wait lists, live-fiber lists). Never held across a park.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::detail {

inline void spin_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// lock_word()/unlock_word() work on a bare word, so public headers can embed
// the lock without including this file.
inline void lock_word(std::atomic<std::uint32_t>& w) noexcept {
  for (;;) {
    if (w.exchange(1, std::memory_order_acquire) == 0) return;
    while (w.load(std::memory_order_relaxed) != 0) spin_pause();
  }
}
inline void unlock_word(std::atomic<std::uint32_t>& w) noexcept { w.store(0, std::memory_order_release); }

class SpinLock {
 public:
  void lock() noexcept { lock_word(word_); }
  void unlock() noexcept { unlock_word(word_); }

 private:
  std::atomic<std::uint32_t> word_{0};
};

class WordGuard {
 public:
  explicit WordGuard(std::atomic<std::uint32_t>& w) noexcept : w_(w) { lock_word(w_); }
  ~WordGuard() { unlock_word(w_); }
  WordGuard(const WordGuard&) = delete;
  WordGuard& operator=(const WordGuard&) = delete;

 private:
  std::atomic<std::uint32_t>& w_;
};

}  // namespace weft::detail
