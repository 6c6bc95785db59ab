// this_fiber::sleep_for timing: timers never fire early, fire in deadline
// order, and fire at most kLate after their deadline. kLate is generous (the
// wheel ticks at 1 ms, and 4 workers oversubscribe a 2-core machine); this
// executable runs alone so other tests do not steal its cores. A shared
// machine can still stall a thread for longer than kLate now and then: a
// round that sees such a stall is run again (up to kRounds), since a timer
// that fires late or out of order by fault does so in every round; no round
// may ever wake early, or later than kStall.
#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "support.hpp"

using namespace net_test;

namespace {
constexpr auto kLate = 20ms;
constexpr auto kStall = 1s;
constexpr int kRounds = 3;

struct Round {
  bool in_order = false;
  Clock::duration best{}, worst{};
};

// sleep_round() files kSleepers sleeps 25 ms apart, in reverse order, and
// reports the order they woke in and the spread of their lateness.
Round sleep_round() {
  constexpr int kSleepers = 20;
  std::mutex mu;
  std::vector<int> order;  // guarded by mu
  std::vector<Clock::duration> late(kSleepers);
  std::vector<weft::JoinHandle<void>> hs;
  const auto start = Clock::now();
  for (int i = kSleepers - 1; i >= 0; --i) {  // filed in reverse order
    hs.push_back(weft::spawn([&, i] {
      const auto d = std::chrono::milliseconds(5 + 25 * i);  // 25 ms apart
      const auto due = start + d;
      weft::this_fiber::sleep_until(due);
      const auto now = Clock::now();
      late[i] = now - due;
      std::lock_guard<std::mutex> g(mu);
      order.push_back(i);
    }));
  }
  for (auto& h : hs) h.join();
  Round r;
  r.in_order = std::is_sorted(order.begin(), order.end()) && order.size() == kSleepers;
  r.worst = *std::max_element(late.begin(), late.end());
  r.best = *std::min_element(late.begin(), late.end());
  return r;
}
}  // namespace

TEST_CASE("sleep_for: never early, in order, at most 20 ms late") {
  for_each_workers([](unsigned workers) {
    bool clean = false;
    for (int round = 0; round < kRounds && !clean; ++round) {
      const Round r = sleep_round();
      MESSAGE("workers " << workers << ", round " << round << ": lateness from "
                         << std::chrono::duration_cast<std::chrono::microseconds>(r.best).count() << " to "
                         << std::chrono::duration_cast<std::chrono::microseconds>(r.worst).count() << " us"
                         << std::string(r.in_order ? "" : ", out of order"));
      CHECK(r.best >= Clock::duration::zero());
      CHECK(r.worst <= kStall);
      clean = r.in_order && r.worst <= kLate;
    }
    CHECK_MESSAGE(clean, "every round woke out of order or more than 20 ms late");
  });
}

TEST_CASE("sleep_for: short sleeps in a loop add up, never early") {
  for_each_workers([] {
    for (auto d : {1ms, 2ms, 5ms, 10ms}) {
      auto t0 = Clock::now();
      for (int i = 0; i < 5; ++i) weft::this_fiber::sleep_for(d);
      auto took = Clock::now() - t0;
      CHECK(took >= 5 * d);
      CHECK(took <= 5 * d + kStall);
    }
    // Zero and negative sleeps return at once.
    auto t0 = Clock::now();
    weft::this_fiber::sleep_for(0ms);
    weft::this_fiber::sleep_for(-5ms);
    CHECK(ms_since(t0) < 500);
  });
}
