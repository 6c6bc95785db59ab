// this_fiber::sleep_for timing: timers never fire early, fire in deadline
// order, and fire at most kLate after their deadline. kLate is generous (the
// wheel ticks at 1 ms, and 4 workers oversubscribe a 2-core machine); this
// executable runs alone so other tests do not steal its cores.
#include <algorithm>
#include <mutex>
#include <vector>

#include "support.hpp"

using namespace net_test;

namespace {
constexpr auto kLate = 20ms;
}

TEST_CASE("sleep_for: never early, in order, at most 20 ms late") {
  for_each_workers([](unsigned workers) {
    constexpr int kSleepers = 20;
    std::mutex mu;
    std::vector<int> order;               // guarded by mu
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
    std::vector<int> sorted(order);
    std::sort(sorted.begin(), sorted.end());
    CHECK(order == sorted);
    auto worst = *std::max_element(late.begin(), late.end());
    auto best = *std::min_element(late.begin(), late.end());
    MESSAGE("workers " << workers << ": lateness from "
                       << std::chrono::duration_cast<std::chrono::microseconds>(best).count() << " to "
                       << std::chrono::duration_cast<std::chrono::microseconds>(worst).count() << " us");
    CHECK(best >= Clock::duration::zero());
    CHECK(worst <= kLate);
  });
}

TEST_CASE("sleep_for: short sleeps in a loop add up, never early") {
  for_each_workers([] {
    for (auto d : {1ms, 2ms, 5ms, 10ms}) {
      auto t0 = Clock::now();
      for (int i = 0; i < 5; ++i) weft::this_fiber::sleep_for(d);
      auto took = Clock::now() - t0;
      CHECK(took >= 5 * d);
      CHECK(took <= 5 * d + 5 * kLate);
    }
    // Zero and negative sleeps return at once.
    auto t0 = Clock::now();
    weft::this_fiber::sleep_for(0ms);
    weft::this_fiber::sleep_for(-5ms);
    CHECK(ms_since(t0) < 50);
  });
}
