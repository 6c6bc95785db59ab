// The contended half of ChannelLock: spin on a plain load (so waiting does
// not bounce the cache line), and after a while give the CPU away, in case
// the holder was preempted. And Spinner, the wait before parking.
#include <sched.h>

#include <algorithm>

#include <weft/detail/channel_lock.hpp>

#include "../fiber_record.hpp"
#include "../runtime_core.hpp"
#include "../spin_lock.hpp"
#include "../worker.hpp"

namespace weft::detail {

namespace {

// Spins before the first sched_yield(): enough to cover a critical section
// that wakes a waiter on another worker (a remote-queue push, rarely a futex
// wake: a few microseconds), little enough that a preempted holder costs
// little CPU.
constexpr int kSpins = 256;

// A Spinner's budget: a few times what a counterpart on another core needs to
// produce or consume the next value, well under a park and a cross-thread
// wake (several microseconds, tens when the other worker's thread sleeps).
constexpr auto kSpinBudget = std::chrono::microseconds(2);
// Pauses between two looks at the clock.
constexpr unsigned kPausesPerStep = 16;

}  // namespace

void ChannelLock::lock_slow() noexcept {
  int spins = 0;
  for (;;) {
    while (word_.load(std::memory_order_relaxed) != 0) {
      if (++spins < kSpins) {
        spin_pause();
      } else {
        sched_yield();
      }
    }
    if (!word_.exchange(1, std::memory_order_acquire)) return;
  }
}

Spinner::Spinner(std::chrono::steady_clock::time_point d) noexcept
    : end_(std::min(d, std::chrono::steady_clock::now() + kSpinBudget)) {}

bool Spinner::next() noexcept {
  for (unsigned i = 0; i < kPausesPerStep; ++i) spin_pause();
  // The clock costs ~20 ns: look at it every fourth step.
  return (++steps_ & 3) != 0 || std::chrono::steady_clock::now() < end_;
}

std::uintptr_t thread_site() noexcept {
  static thread_local char site __attribute__((tls_model("initial-exec")));
  return reinterpret_cast<std::uintptr_t>(&site);
}

bool stays_put() noexcept {
  if (!current_worker()) return true;
  const FiberRecord* rec = current_record();
  return !rec || rec->home || !rec->rt->may_steal();
}

}  // namespace weft::detail
