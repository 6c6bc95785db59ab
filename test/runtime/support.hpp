// Helpers shared by the runtime tests: the worker counts every case runs with,
// bounded waits, a watchdog for tests whose failure mode is a hang, and counts
// of the process's threads and file descriptors for leak checks.
#pragma once

#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "../doctest_fibers.hpp"
#include "../test_support.hpp"
#include <weft/sync/event.hpp>
#include <weft/weft.hpp>

namespace weft_test {

using test_common::cpu_time;
using test_common::Watchdog;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Every runtime case runs with these worker counts (1 exercises the
// single-thread paths, 2 and 4 the stealing ones; 4 oversubscribes 2 cores).
inline constexpr unsigned kWorkerCounts[] = {1, 2, 4};

// WEFT_WORKER_SUBCASES(n) declares `unsigned n` and reruns the rest of the
// test case once per worker count, each run a doctest subcase of its own so a
// failure with 2 workers does not hide the result with 4.
#define WEFT_WORKER_SUBCASES(var)                                            \
  unsigned var = 0;                                                          \
  for (unsigned weft_n_ : ::weft_test::kWorkerCounts)                        \
    SUBCASE(("workers=" + std::to_string(weft_n_)).c_str()) { var = weft_n_; } \
  CAPTURE(var)

// config() is a runtime configuration with n workers and defaults otherwise.
inline weft::Config config(unsigned n) { return weft::Config{}.worker_threads(n); }

// wait_until() polls pred on a plain thread until it holds or timeout passes;
// returns pred's last value. For state that has no notification (counters in
// RuntimeStats, /proc entries); the poll interval only sets the latency.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(200us);
  }
  return true;
}

using test_common::fiber_wait_until;
using test_common::parked_with_deadline;
using test_common::thrown_code;

// SetElsewhere sets ev from a worker other than `avoid`, so that ev's waiters
// are woken onto that worker: it spawns fibers that yield until one of them
// runs elsewhere (a thief takes it from the spawner's queue). If none does
// within `within` (one worker, or no thief in time), the first to give up
// sets ev where it is. join() waits for them. Call from a fiber.
class SetElsewhere {
 public:
  SetElsewhere(weft::Event& ev, int avoid, std::chrono::milliseconds within) {
    for (int i = 0; i < 16; ++i) {
      setters_.push_back(weft::spawn([this, &ev, avoid, within] {
        const auto until = Clock::now() + within;
        while (!set_.load()) {
          const bool elsewhere = weft::this_fiber::worker_index() != avoid;
          if ((elsewhere || Clock::now() >= until) && !set_.exchange(true)) {
            ev.set();
            return;
          }
          weft::this_fiber::yield();
        }
      }));
    }
  }
  void join() {
    for (auto& s : setters_) s.join();
  }

 private:
  std::atomic<bool> set_{false};
  std::vector<weft::JoinHandle<void>> setters_;
};

// burst() spawns n fibers on rt that all park at once, then releases and
// joins them: each worker is left with the fibers it ran, kept for reuse.
inline void burst(weft::Runtime& rt, std::size_t n) {
  weft::Event go;
  std::atomic<std::size_t> parked{0};
  std::vector<weft::JoinHandle<void>> hs;
  hs.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    hs.push_back(rt.spawn([&] {
      parked.fetch_add(1, std::memory_order_relaxed);
      go.wait();
    }));
  }
  REQUIRE(wait_until([&] { return parked.load() == n; }, 60s));
  go.set();
  for (auto& h : hs) h.join();
}

inline int thread_count() { return test_common::live_thread_count(); }
using test_common::fd_count;
using test_common::thread_ids_named;
using test_common::threads_named;
using test_common::usable_cpus;

// Milliseconds since t0, for messages and loose timing bounds.
inline long long ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// slab_series() is the number of stacks the pool holds after `slabs` slabs
// of stacks `span` bytes apart: the first holds 8 MiB of stacks, each later
// one as many as all before, up to 64 MiB (stack_pool.cpp).
inline std::size_t slab_series(std::size_t slabs, std::size_t span) {
  std::size_t carved = 0;
  for (std::size_t i = 0; i < slabs; ++i) carved += std::clamp(carved, (8u << 20) / span, (64u << 20) / span);
  return carved;
}

// park_burst() spawns n fibers (from a fiber) that each wait for go, and
// returns their handles once every one waits, or after 10 s (a failed
// check): a burst of spawns that no finished fiber's stack can serve.
inline std::vector<weft::JoinHandle<void>> park_burst(std::size_t n, weft::Event& go) {
  std::atomic<std::size_t> parked{0};
  std::vector<weft::JoinHandle<void>> hs;
  hs.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    hs.push_back(weft::spawn([&parked, &go] {
      parked.fetch_add(1, std::memory_order_relaxed);
      go.wait();
    }));
  }
  CHECK(fiber_wait_until([&] { return parked.load() == n; }, 10s));
  return hs;
}

}  // namespace weft_test
