// steady_ns(): the steady clock as a plain count of nanoseconds, for
// timestamps kept in atomics and small structs and compared by subtraction.
#pragma once

#include <chrono>
#include <cstdint>

namespace weft::detail {

inline std::int64_t to_ns(std::chrono::steady_clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

inline std::int64_t steady_ns() noexcept { return to_ns(std::chrono::steady_clock::now()); }

}  // namespace weft::detail
