// Helpers of the os tests: the worker counts every runtime case runs with, a
// watchdog for tests whose failure mode is a hang, bounded polling, counts of
// descriptors and child processes for leak checks, and a scratch directory.
#pragma once

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include <doctest/doctest.h>

#include "../doctest_fibers.hpp"
#include "../test_support.hpp"
#include <weft/weft.hpp>

namespace os_test {

using test_common::Watchdog;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Every runtime case runs with 1 worker (the single-thread paths), 2 and 4
// (stealing; 4 oversubscribes the 2 cores of the test machines).
inline constexpr unsigned kWorkerCounts[] = {1, 2, 4};

// WEFT_WORKER_SUBCASES(n) declares `unsigned n` and reruns the rest of the
// test case once per worker count, each run a subcase of its own.
#define WEFT_WORKER_SUBCASES(var)                                              \
  unsigned var = 0;                                                            \
  for (unsigned weft_n_ : ::os_test::kWorkerCounts)                            \
    SUBCASE(("workers=" + std::to_string(weft_n_)).c_str()) { var = weft_n_; } \
  CAPTURE(var)

inline weft::Config config(unsigned n) { return weft::Config{}.worker_threads(n); }

// wait_until() polls pred on a plain thread until it holds or timeout
// passes, for state without a notification (/proc entries, the reaper).
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

using test_common::fd_count;
using test_common::live_thread_count;

// no_children() is true when this process has no child at all, running or
// zombie. WNOWAIT: it looks without reaping, so it cannot hide a zombie.
inline bool no_children() {
  siginfo_t info{};
  return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == -1 && errno == ECHILD;
}

using test_common::ScratchDir;

// ms_since() is the milliseconds since t0, for messages and loose bounds.
inline long long ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

}  // namespace os_test
