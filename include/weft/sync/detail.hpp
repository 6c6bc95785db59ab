// Pieces shared by the weft::sync primitives. No API promise.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <system_error>
#include <type_traits>

#include <weft/deadline.hpp>
#include <weft/detail/waiter.hpp>

namespace weft::detail {

// WaitList is the intrusive FIFO of waiters of a primitive, linked through
// Waiter::next/prev and guarded by the primitive's spin lock word.
struct WaitList {
  Waiter* head = nullptr;
  Waiter* tail = nullptr;
};

// to_deadline() turns a time point of any clock into a steady-clock deadline
// (other clocks go through the time left, as std::condition_variable does).
template <class C, class D>
Deadline to_deadline(const std::chrono::time_point<C, D>& tp) {
  if constexpr (std::is_same_v<std::chrono::time_point<C, D>, Deadline>) {
    return tp;
  } else {
    return deadline_in(tp - C::now());
  }
}

// throw_wait_error() throws what a failed throwing-form wait reports:
// weft::Cancelled for operation_canceled, std::system_error(ec, what) else.
[[noreturn]] void throw_wait_error(std::error_code ec, const char* what);

// expect_timeout() is the result of a bool-returning deadline form: false for
// timed_out, true for success; cancellation throws weft::Cancelled.
inline bool expect_timeout(std::error_code ec) {
  if (!ec) return true;
  if (ec == std::errc::timed_out) return false;
  throw_wait_error(ec, "weft: wait");
}

}  // namespace weft::detail
