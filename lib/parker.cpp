// Futex-based parking. The state word makes unpark-before-park a no-op sleep:
// unpark() leaves kNotified, which the next park_until() consumes.
#include "parker.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>

namespace weft::detail {

namespace {
long futex(std::atomic<std::uint32_t>* addr, int op, std::uint32_t val, const timespec* ts,
           std::uint32_t mask) {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), op, val, ts, nullptr, mask);
}
}  // namespace

void Parker::park_until(std::chrono::steady_clock::time_point tp) noexcept {
  std::uint32_t expected = kNotified;
  if (state_.compare_exchange_strong(expected, kEmpty, std::memory_order_acquire)) return;
  expected = kEmpty;
  if (!state_.compare_exchange_strong(expected, kParked, std::memory_order_acquire)) {
    state_.store(kEmpty, std::memory_order_relaxed);  // was notified meanwhile
    return;
  }
  if (tp == std::chrono::steady_clock::time_point::max()) {
    futex(&state_, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, kParked, nullptr, FUTEX_BITSET_MATCH_ANY);
  } else {
    // steady_clock is CLOCK_MONOTONIC on Linux, which FUTEX_WAIT_BITSET takes
    // as an absolute deadline: no drift from recomputing a relative timeout.
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count();
    if (ns < 0) ns = 0;
    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    futex(&state_, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, kParked, &ts, FUTEX_BITSET_MATCH_ANY);
  }
  state_.store(kEmpty, std::memory_order_relaxed);
}

bool Parker::unpark() noexcept {
  std::uint32_t prev = state_.exchange(kNotified, std::memory_order_release);
  if (prev == kParked) {
    futex(&state_, FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG, 1, nullptr, FUTEX_BITSET_MATCH_ANY);
  }
  return prev == kPolling;
}

bool Parker::begin_poll() noexcept {
  std::uint32_t expected = kEmpty;
  if (state_.compare_exchange_strong(expected, kPolling, std::memory_order_acq_rel)) return true;
  state_.store(kEmpty, std::memory_order_relaxed);  // consume the pending unpark
  return false;
}

}  // namespace weft::detail
