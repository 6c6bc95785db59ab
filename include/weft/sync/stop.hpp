// std::stop_token interop: a std::stop_source can cancel weft fibers.
#pragma once

#include <functional>
#include <stop_token>
#include <type_traits>
#include <utility>

namespace weft {

namespace detail {
// current_fiber_for_cancel() is the calling fiber's record, or null outside a
// fiber; cancel_fiber() cancels it as JoinHandle::cancel() would. Any thread.
void* current_fiber_for_cancel() noexcept;
void cancel_fiber(void* fiber) noexcept;

struct CancelFiber {
  void* fiber;
  void operator()() const noexcept {
    if (fiber) cancel_fiber(fiber);
  }
};
}  // namespace detail

// CancelOnStop cancels the calling fiber when stop is requested on token,
// while the CancelOnStop lives: the fiber's current or next waiting call then
// throws weft::Cancelled, as after JoinHandle::cancel(). A stop requested
// before it was made cancels at once. Cancellation stays once it happened;
// destroying the CancelOnStop only stops later requests from reaching the
// fiber. It lives on the fiber's stack (it cannot be moved), so it can never
// reach a fiber that has finished. On a plain thread it does nothing (thread
// waits are not cancellable).
//
//   std::stop_source stop;
//   auto h = weft::spawn(weft::cancel_on(stop.get_token(), [] { serve(); }));
//   ...
//   stop.request_stop();   // serve()'s next waiting call throws Cancelled
//   h.join();              // rethrows Cancelled unless serve() caught it
//
// This is the safe way to let a std::stop_source stop a spawned fiber: a
// std::stop_callback calling JoinHandle::cancel() from outside would race
// with join() and the handle's destruction.
class CancelOnStop {
 public:
  explicit CancelOnStop(std::stop_token token)
      : cb_(std::move(token), detail::CancelFiber{detail::current_fiber_for_cancel()}) {}
  CancelOnStop(const CancelOnStop&) = delete;
  CancelOnStop& operator=(const CancelOnStop&) = delete;

 private:
  std::stop_callback<detail::CancelFiber> cb_;
};

// cancel_on(token) makes a CancelOnStop for the calling fiber:
//   auto guard = weft::cancel_on(token);
[[nodiscard]] inline CancelOnStop cancel_on(std::stop_token token) { return CancelOnStop(std::move(token)); }

// cancel_on(token, f) wraps f so that it runs under a CancelOnStop(token) in
// whichever fiber calls it: pass the result to weft::spawn (or TaskGroup::spawn).
// If f takes a std::stop_token it is given token, as std::jthread does.
template <class F>
auto cancel_on(std::stop_token token, F&& f) {
  return [token = std::move(token), f = std::forward<F>(f)]() mutable -> decltype(auto) {
    CancelOnStop guard(token);
    if constexpr (std::is_invocable_v<std::decay_t<F>&, std::stop_token>) {
      return std::invoke(f, token);
    } else {
      return std::invoke(f);
    }
  };
}

}  // namespace weft
