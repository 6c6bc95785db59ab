// Helpers shared by the proof tests: the worker counts every runtime case runs
// with, a watchdog for cases whose failure mode is a hang, and a runner that
// checks a runtime leaves no fiber, registration, timer or descriptor behind.
// The proofs sit outside weft's own test areas, so they carry their own copy
// rather than reaching into another area's helpers.
#pragma once

#include <dirent.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include <doctest/doctest.h>

#include "../doctest_fibers.hpp"
#include "../test_support.hpp"
#include <weft/weft.hpp>

namespace proof {

using test_common::Watchdog;
using test_common::fd_count;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Every runtime case runs with these worker counts: 1 is where a call that
// blocks its thread stalls everything, 2 and 4 add stealing and cross-thread
// wakeups (4 oversubscribes a 2-core machine).
inline constexpr unsigned kWorkerCounts[] = {1, 2, 4};

// wait_until() polls pred on a plain thread until it holds or timeout passes;
// for runtime counters, which have no notification.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// kTimerDrain bounds the wait for pending_timers to reach 0 after a case:
// fibers that are still ending withdraw their deadlines (a deadline withdrawn
// from another worker no longer counts, even before its owner unlinks it).
inline constexpr auto kTimerDrain = 10s;

// ms_since() is the milliseconds since t0, for timing bounds and messages.
inline long long ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// run_clean() runs f in a fiber of a fresh runtime with exactly n workers
// (what weft::run does, with spare workers off) and then checks that the
// runtime leaves nothing behind: no descriptor registered with the reactor,
// no timer filed, no fiber alive, and no descriptor open once the runtime is
// gone. Spares are off because a spare, once started, stays: a worker held
// in the kernel for 10 ms (socket() growing the descriptor table past 256 or
// 512 waits for an RCU grace period) would turn a one-worker proof into a
// two-worker one. Descriptors that a client library closes through the
// hooks must be forgotten by the reactor too.
template <class F>
void run_clean(unsigned n, F&& f, std::chrono::milliseconds limit = 120'000ms) {
  INFO("workers = " << n);
  Watchdog dog(limit, "proof with " + std::to_string(n) + " workers");
  const int fds_before = fd_count();
  {
    weft::Runtime rt(weft::Config{}.worker_threads(n).max_spare_workers(0));
    rt.block_on(f);
    CHECK(rt.stats().registered_fds == 0);
    CHECK(wait_until([&] { return rt.stats().pending_timers == 0; }, kTimerDrain));
    CHECK(rt.stats().live_fibers == 0);
  }
  CHECK(fd_count() == fds_before);
}

}  // namespace proof
