// weft::unblock(): run a blocking call on the blocking pool while the fiber parks.
#pragma once

#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

namespace weft {

namespace detail {
// unblock_run() runs job on a blocking-pool thread of the calling fiber's
// runtime and parks the fiber until it returns; outside a fiber it runs job on
// the calling thread. Cancellation cannot interrupt a running job: the fiber
// waits for it, then throws Cancelled.
void unblock_run(void (*job)(void*) noexcept, void* arg);
}  // namespace detail

// unblock() runs f on a thread of the runtime's blocking pool and returns its
// value or rethrows its exception; meanwhile the calling fiber is parked and its
// worker runs other fibers. Use it for calls that block their thread: file
// I/O, DNS, a library with a blocking API. Outside a fiber, f runs inline.
template <class F>
std::invoke_result_t<F&> unblock(F&& f) {
  using R = std::invoke_result_t<F&>;
  struct Frame {
    F& fn;
    std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> value{};
    std::exception_ptr error;
  } frame{f, {}, {}};
  detail::unblock_run(
      [](void* p) noexcept {
        auto* fr = static_cast<Frame*>(p);
        try {
          if constexpr (std::is_void_v<R>) {
            std::invoke(fr->fn);
          } else {
            fr->value.emplace(std::invoke(fr->fn));
          }
        } catch (...) {
          fr->error = std::current_exception();
        }
      },
      &frame);
  if (frame.error) std::rethrow_exception(frame.error);
  if constexpr (!std::is_void_v<R>) return std::move(*frame.value);
}

}  // namespace weft
