// Parker: puts one worker thread to sleep until unpark() or a deadline (futex).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace weft::detail {

class Parker {
 public:
  // park_until() sleeps unless an unpark() is pending; returns at tp at the
  // latest (steady clock; time_point::max() for no deadline). Owner thread only.
  void park_until(std::chrono::steady_clock::time_point tp) noexcept;

  // unpark() wakes the owner, or makes its next park_until() return at once.
  // Any thread; costs a syscall only when the owner is asleep. Returns true if
  // the owner is blocked in the reactor instead (begin_poll): the caller must
  // interrupt that poll.
  bool unpark() noexcept;

  // begin_poll() marks the owner as about to block in the reactor; false if an
  // unpark() is pending (consumed: do not block). end_poll() clears the mark,
  // keeping an unpark() that came during the poll for the next park_until():
  // the poll may not have blocked at all (another thread held the token).
  bool begin_poll() noexcept;
  void end_poll() noexcept {
    std::uint32_t expected = kPolling;
    state_.compare_exchange_strong(expected, kEmpty, std::memory_order_acq_rel);
  }

 private:
  static constexpr std::uint32_t kEmpty = 0, kParked = 1, kNotified = 2, kPolling = 3;
  std::atomic<std::uint32_t> state_{kEmpty};
};

}  // namespace weft::detail
