// Helpers for the sync tests: the worker counts every case runs with, a
// watchdog for tests whose failure mode is a hang, and bounded polling.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include <doctest/doctest.h>

#include "../doctest_fibers.hpp"
#include "../test_support.hpp"
#include <weft/sync.hpp>
#include <weft/weft.hpp>

namespace sync_test {

using test_common::Watchdog;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Every case runs with 1 worker (single-thread paths), 2 and 4 (cross-worker
// wakeups; 4 oversubscribes a 2-core machine).
inline constexpr unsigned kWorkerCounts[] = {1, 2, 4};

// SYNC_WORKER_SUBCASES(n) declares `unsigned n` and reruns the rest of the
// test case once per worker count, each a subcase of its own.
#define SYNC_WORKER_SUBCASES(var)                                              \
  unsigned var = 0;                                                            \
  for (unsigned sync_n_ : ::sync_test::kWorkerCounts)                          \
    SUBCASE(("workers=" + std::to_string(sync_n_)).c_str()) { var = sync_n_; } \
  CAPTURE(var)

inline weft::Config config(unsigned n) { return weft::Config{}.worker_threads(n); }

// Ping-pong tests make up to kPingPongRounds round trips between two fibers.
// Each wait has its own deadline (kStepDeadline): a lost wakeup ends it and
// is counted, never hangs. The rounds are also cut short by a time budget
// (ping_pong_budget()): when the cores are saturated by other processes a
// worker woken from its futex may wait milliseconds for a core, and a
// cross-worker round trip then costs that twice (a quiet machine makes the
// 100,000 rounds in a few seconds).
inline constexpr int kPingPongRounds = 100'000;
inline constexpr auto kStepDeadline = std::chrono::seconds(30);

// ping_pong_budget() is 20 s, or WEFT_SYNC_PINGPONG_BUDGET seconds (0: no
// budget, always the full rounds).
inline Clock::duration ping_pong_budget() {
  long s = 20;
  if (const char* env = std::getenv("WEFT_SYNC_PINGPONG_BUDGET")) s = std::atol(env);
  if (s <= 0) return std::chrono::hours(24);
  return std::chrono::seconds(s);
}

// ping_pong_watchdog() bounds a whole ping-pong case: its budget and then
// some for the last steps and the teardown.
inline std::chrono::milliseconds ping_pong_watchdog() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(ping_pong_budget()) + std::chrono::seconds(100);
}

// check_ping_pong() checks what a ping-pong run did: no wait ran out, all
// rounds on one worker (no cross-thread wakes to be slow), and enough rounds
// elsewhere to have raced wakers against waiters many times.
inline void check_ping_pong(unsigned workers, int rounds, int stuck) {
  MESSAGE("workers=" << workers << ": " << rounds << " round trips, " << stuck << " waits ran out");
  CHECK(stuck == 0);
  if (workers == 1) CHECK(rounds == kPingPongRounds);
  CHECK(rounds >= 200);
}

using test_common::fiber_wait_until;

// thread_wait_until() is the same for a plain thread.
template <class Pred>
bool thread_wait_until(Pred pred, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(100us);
  }
  return true;
}

// is_cancelled() runs f and tells whether it threw weft::Cancelled.
template <class F>
bool throws_cancelled(F&& f) {
  try {
    f();
  } catch (const weft::Cancelled&) {
    return true;
  }
  return false;
}

// ms_since() is the milliseconds elapsed since t0.
inline long long ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

}  // namespace sync_test
