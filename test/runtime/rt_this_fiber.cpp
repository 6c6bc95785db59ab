// this_fiber: sleep_for sleeps about as long as asked, and name(), in_fiber()
// and worker_index() report what they promise inside and outside fibers.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace weft_test;

namespace {

// Sleeping is the behaviour under test here, so the bounds are on time: at
// least what was asked, and not absurdly more (a loaded shared machine can
// stall a thread for a few hundred milliseconds, hence the loose slack; a
// sleep that is lost never returns, and the watchdog names it).
constexpr auto kSlack = 1s;

void check_sleep(std::chrono::milliseconds d) {
  auto t0 = Clock::now();
  weft::this_fiber::sleep_for(d);
  auto took = Clock::now() - t0;
  CAPTURE(d.count());
  CAPTURE(std::chrono::duration_cast<std::chrono::microseconds>(took).count());
  CHECK(took >= d);
  CHECK(took < d + kSlack);
}

}  // namespace

TEST_CASE("sleep_for sleeps at least the asked time and not much longer") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "sleep_for");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    for (auto d : {0ms, 1ms, 5ms, 20ms, 100ms, 250ms}) check_sleep(d);
    // sleep_until a past instant and sleep_for a negative time return.
    auto t0 = Clock::now();
    weft::this_fiber::sleep_until(t0 - 1s);
    weft::this_fiber::sleep_for(-5ms);
    CHECK(Clock::now() - t0 < kSlack);
  });
}

TEST_CASE("a sleep inside a deadline scope: cut short by an earlier scope, whole under a later one") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "sleep in a deadline scope");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    // The scope ends first: timed_out, once the scope's deadline has passed.
    auto t0 = Clock::now();
    bool timed_out = false;
    try {
      weft::with_timeout(20ms, [] { weft::this_fiber::sleep_for(1h); });
    } catch (const std::system_error& e) {
      timed_out = e.code() == std::errc::timed_out;
    }
    auto took = Clock::now() - t0;
    CHECK(timed_out);
    CHECK(took >= 20ms);
    CHECK(took < 20ms + kSlack);
    // The sleep ends first: it returns normally after its own time.
    t0 = Clock::now();
    CHECK_NOTHROW(weft::with_timeout(1h, [] { weft::this_fiber::sleep_for(10ms); }));
    took = Clock::now() - t0;
    CHECK(took >= 10ms);
    CHECK(took < 10ms + kSlack);
    // Both already past: the sleep returns at once, without an error.
    t0 = Clock::now();
    CHECK_NOTHROW(weft::with_deadline(t0 - 1s, [&] { weft::this_fiber::sleep_until(t0 - 2s); }));
    // Only the scope past: the sleep cannot be had, so it is cut short.
    CHECK_THROWS_AS(weft::with_deadline(t0 - 1s, [] { weft::this_fiber::sleep_for(1h); }), std::system_error);
    CHECK(Clock::now() - t0 < kSlack);
  });
}

TEST_CASE("many fibers sleeping different times each wake on time") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "concurrent sleeps");
  weft::Runtime rt(config(workers));
  std::vector<weft::JoinHandle<void>> hs;
  for (int i = 0; i < 200; ++i) {
    hs.push_back(rt.spawn([i] { check_sleep(std::chrono::milliseconds(1 + (i * 37) % 150)); }));
  }
  for (auto& h : hs) h.join();
}

TEST_CASE("a sleeping fiber on an idle runtime wakes by itself") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "sleep on an idle runtime");
  weft::Runtime rt(config(workers));
  // Nothing else runs: every worker parks, and the timer alone must bring
  // one back. Sleeps an hour long with a short one among them make sure the
  // worker parks only until the nearest deadline.
  std::vector<weft::JoinHandle<void>> long_sleepers;
  for (int i = 0; i < 3; ++i) {
    long_sleepers.push_back(rt.spawn([] {
      try {
        weft::this_fiber::sleep_for(std::chrono::hours(1));
      } catch (const weft::Cancelled&) {
      }
    }));
  }
  for (int round = 0; round < 10; ++round) {
    CAPTURE(round);
    auto h = rt.spawn([] { check_sleep(30ms); });
    h.join();
  }
  for (auto& h : long_sleepers) h.cancel();
  for (auto& h : long_sleepers) h.join();
}

TEST_CASE("name() returns the SpawnOptions name") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "names");
  weft::Runtime rt(config(workers));
  auto named = rt.spawn(weft::SpawnOptions{"fiber-alpha", 0}, [] {
    std::string before(weft::this_fiber::name());
    weft::this_fiber::sleep_for(1ms);  // the name survives a park and a move
    return before + "|" + std::string(weft::this_fiber::name());
  });
  CHECK(named.join() == "fiber-alpha|fiber-alpha");
  CHECK(rt.block_on([] { return std::string(weft::this_fiber::name()); }) == "");
  CHECK(rt.block_on([] {
    return weft::spawn(weft::SpawnOptions{"inner-beta", 0}, [] {
             return std::string(weft::this_fiber::name());
           }).join();
  }) == "inner-beta");
  // The name is copied at spawn: the options may die first.
  weft::JoinHandle<std::string> h;
  {
    weft::SpawnOptions opts{std::string(100, 'x'), 0};
    h = rt.spawn(opts, [] {
      weft::this_fiber::yield();
      return std::string(weft::this_fiber::name());
    });
    opts.name.assign(100, 'y');
  }
  CHECK(h.join() == std::string(100, 'x'));
  CHECK(weft::this_fiber::name().empty());
}

TEST_CASE("in_fiber and worker_index inside and outside fibers") {
  CHECK_FALSE(weft::this_fiber::in_fiber());
  CHECK(weft::this_fiber::worker_index() == -1);
  CHECK_FALSE(weft::this_fiber::cancelled());
  std::thread([] {
    CHECK_FALSE(weft::this_fiber::in_fiber());
    CHECK(weft::this_fiber::worker_index() == -1);
  }).join();

  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "in_fiber");
  weft::Runtime rt(config(workers));
  std::vector<weft::JoinHandle<bool>> hs;
  for (int i = 0; i < 100; ++i) {
    hs.push_back(rt.spawn([workers] {
      bool ok = weft::this_fiber::in_fiber() && !weft::this_fiber::cancelled();
      for (int k = 0; k < 3; ++k) {
        int w = weft::this_fiber::worker_index();
        ok = ok && w >= 0 && w < static_cast<int>(workers);
        weft::this_fiber::yield();
      }
      return ok;
    }));
  }
  for (auto& h : hs) CHECK(h.join());
  // Still a plain thread after having joined fibers.
  CHECK_FALSE(weft::this_fiber::in_fiber());
  CHECK(weft::this_fiber::worker_index() == -1);
}
