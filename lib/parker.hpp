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
  // Any thread; costs a syscall only when the owner is asleep.
  void unpark() noexcept;

 private:
  static constexpr std::uint32_t kEmpty = 0, kParked = 1, kNotified = 2;
  std::atomic<std::uint32_t> state_{kEmpty};
};

}  // namespace weft::detail
