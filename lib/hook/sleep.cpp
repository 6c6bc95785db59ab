// Sleeps in a fiber park it on the runtime's timer wheel (this is also what
// std::this_thread::sleep_for becomes). A cancelled fiber wakes early, with
// EINTR and the time left, as a signal would end the sleep.
#include <time.h>
#include <unistd.h>

#include "core.hpp"
#include "real.hpp"

using namespace weft::hook;

namespace {
std::int64_t ts_ns(const timespec& ts) noexcept {
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

timespec ns_ts(std::int64_t ns) noexcept {
  if (ns < 0) ns = 0;
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

// sleep_ns() parks f for ns; returns 0 or EINTR, with the time left in *left.
int sleep_ns(void* f, std::int64_t ns, std::int64_t* left) noexcept {
  const std::int64_t deadline = ns > WEFT_HOOK_NO_DEADLINE - now_ns() ? WEFT_HOOK_NO_DEADLINE : now_ns() + ns;
  int e = api()->sleep_until(f, deadline);
  if (left) *left = e ? deadline - now_ns() : 0;
  return e ? EINTR : 0;
}
}  // namespace

extern "C" {

__attribute__((visibility("default"))) int nanosleep(const timespec* req, timespec* rem) {
  void* f = fiber();
  if (!f) return real::fns().nanosleep(req, rem);
  if (!req || req->tv_nsec < 0 || req->tv_nsec >= 1'000'000'000 || req->tv_sec < 0) {
    set_errno(EINVAL);
    return -1;
  }
  std::int64_t left = 0;
  if (sleep_ns(f, ts_ns(*req), &left)) {
    if (rem) *rem = ns_ts(left);
    set_errno(EINTR);
    return -1;
  }
  return 0;
}

__attribute__((visibility("default"))) int clock_nanosleep(clockid_t clk, int flags, const timespec* req,
                                                           timespec* rem) {
  void* f = fiber();
  if (!f || (clk != CLOCK_MONOTONIC && clk != CLOCK_REALTIME)) return real::fns().clock_nanosleep(clk, flags, req, rem);
  if (!req || req->tv_nsec < 0 || req->tv_nsec >= 1'000'000'000) return EINVAL;
  std::int64_t ns = ts_ns(*req);
  if (flags & TIMER_ABSTIME) {
    timespec now;
    clock_gettime(clk, &now);
    ns -= ts_ns(now);
    if (ns <= 0) return 0;
  } else if (ns < 0) {
    return EINVAL;
  }
  std::int64_t left = 0;
  if (sleep_ns(f, ns, &left)) {
    if (rem && !(flags & TIMER_ABSTIME)) *rem = ns_ts(left);
    return EINTR;
  }
  return 0;
}

__attribute__((visibility("default"))) int usleep(useconds_t us) {
  void* f = fiber();
  if (!f) return real::fns().usleep(us);
  if (sleep_ns(f, static_cast<std::int64_t>(us) * 1000, nullptr)) {
    set_errno(EINTR);
    return -1;
  }
  return 0;
}

__attribute__((visibility("default"))) unsigned sleep(unsigned s) {
  void* f = fiber();
  if (!f) return real::fns().sleep(s);
  std::int64_t left = 0;
  if (sleep_ns(f, static_cast<std::int64_t>(s) * 1'000'000'000, &left))
    return static_cast<unsigned>((left + 999'999'999) / 1'000'000'000);
  return 0;
}

}  // extern "C"
