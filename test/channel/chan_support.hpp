// Helpers shared by the channel tests: the worker counts every case runs with,
// a watchdog for cases whose failure mode is a hang, and value accounting.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "../doctest_fibers.hpp"
#include "../test_support.hpp"
#include <weft/weft.hpp>

namespace chan_test {

using test_common::Watchdog;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Every runtime case runs with 1, 2 and 4 workers (1: single-thread paths;
// 2 and 4: wakes across threads, stealing, and 4 oversubscribes 2 cores).
inline constexpr unsigned kWorkerCounts[] = {1, 2, 4};

// CHAN_WORKER_SUBCASES(n) declares `unsigned n` and reruns the rest of the
// test case once per worker count, each as its own doctest subcase.
#define CHAN_WORKER_SUBCASES(var)                                              \
  unsigned var = 0;                                                            \
  for (unsigned chan_n_ : ::chan_test::kWorkerCounts)                          \
    SUBCASE(("workers=" + std::to_string(chan_n_)).c_str()) { var = chan_n_; } \
  CAPTURE(var)

inline weft::Config config(unsigned n) { return weft::Config{}.worker_threads(n); }

// Ledger counts, per value id, how often it was received and how often its
// sender got it back undelivered; at the end each id must total exactly one.
class Ledger {
 public:
  explicit Ledger(std::size_t n) : received_(n), returned_(n) {}
  void received(std::size_t id) { received_.at(id).fetch_add(1, std::memory_order_relaxed); }
  void returned(std::size_t id) { returned_.at(id).fetch_add(1, std::memory_order_relaxed); }
  std::size_t total_received() const { return sum(received_); }
  std::size_t total_returned() const { return sum(returned_); }
  // check() fails the test for every id not accounted for exactly once (the
  // first few are named).
  void check() const {
    std::size_t bad = 0;
    for (std::size_t i = 0; i < received_.size(); ++i) {
      const auto r = received_[i].load(), b = returned_[i].load();
      if (r + b != 1) {
        if (++bad <= 5)
          FAIL_CHECK("value " << i << " received " << r << " times, returned " << b << " times");
      }
    }
    CHECK(bad == 0);
  }

 private:
  static std::size_t sum(const std::vector<std::atomic<unsigned>>& v) {
    std::size_t s = 0;
    for (auto& x : v) s += x.load();
    return s;
  }
  std::vector<std::atomic<unsigned>> received_;
  std::vector<std::atomic<unsigned>> returned_;
};

// Token is a move-only value that knows whether it was moved from: a value
// lost in a channel or duplicated shows up in the ledger, and one moved from
// twice shows up here.
struct Token {
  std::unique_ptr<std::size_t> id;
  explicit Token(std::size_t i) : id(std::make_unique<std::size_t>(i)) {}
};

}  // namespace chan_test
