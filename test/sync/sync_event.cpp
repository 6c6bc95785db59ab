// weft::Event: set/reset semantics, a 100,000-round ping-pong, release of
// many waiters, give-ups, deadline scopes, plain threads.
#include <system_error>
#include <thread>
#include <vector>

#include "sync_support.hpp"

using namespace sync_test;

TEST_CASE("Event: set, reset, is_set, wait_for") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    weft::Event ev;
    CHECK_FALSE(ev.is_set());
    CHECK_FALSE(ev.wait_for(1ms));
    ev.set();
    CHECK(ev.is_set());
    ev.wait();
    CHECK(ev.wait_for(1h));
    ev.set();  // idempotent
    ev.reset();
    CHECK_FALSE(ev.is_set());
    std::error_code ec;
    CHECK_FALSE(ev.wait(ec, weft::deadline_in(1ms)));
    CHECK(ec == std::errc::timed_out);
    weft::Event raised(true);
    CHECK(raised.is_set());
  });
}

TEST_CASE("Event: 100,000 ping-pong rounds lose no wakeup") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(ping_pong_watchdog(), "Event ping-pong");
  int rounds = 0;
  std::atomic<int> stuck{0};
  weft::run(config(workers), [&] {
    weft::Event ping, pong;
    std::atomic<bool> stop{false};
    auto other = weft::spawn([&] {
      for (;;) {
        if (!ping.wait_for(kStepDeadline)) {
          ++stuck;
          return;
        }
        ping.reset();  // before answering: the next ping comes after this
        if (stop.load()) return;
        pong.set();
      }
    });
    const auto budget_end = Clock::now() + ping_pong_budget();
    for (; rounds < kPingPongRounds; ++rounds) {
      if (rounds % 1024 == 0 && Clock::now() > budget_end) break;
      ping.set();
      if (!pong.wait_for(kStepDeadline)) {
        ++stuck;
        break;
      }
      pong.reset();
    }
    stop = true;
    ping.set();
    other.join();
  });
  check_ping_pong(workers, rounds, stuck.load());
}

TEST_CASE("Event: one set releases thousands of waiters, fibers and threads") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "Event broadcast");
  constexpr int kFibers = 3000, kThreads = 3;
  weft::Runtime rt(config(workers));
  weft::Event ev;
  std::atomic<int> released{0};
  std::vector<weft::JoinHandle<void>> hs;
  for (int i = 0; i < kFibers; ++i)
    hs.push_back(rt.spawn([&] {
      ev.wait();
      ++released;
    }));
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&] {
      ev.wait();
      ++released;
    });
  rt.spawn([&] { ev.set(); }).join();
  for (auto& t : ts) t.join();
  for (auto& h : hs) h.join();
  rt.shutdown();
  CHECK(released.load() == kFibers + kThreads);
}

TEST_CASE("Event: cancelled and timed-out waiters leave it working") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "Event give-ups");
  weft::run(config(workers), [&] {
    weft::Event ev;
    std::atomic<bool> waiting{false};
    auto victim = weft::spawn([&] {
      waiting = true;
      ev.wait();
    });
    REQUIRE(fiber_wait_until([&] { return waiting.load(); }, 10s));
    for (int i = 0; i < 10; ++i) weft::this_fiber::yield();
    victim.cancel();
    CHECK(throws_cancelled([&] { victim.join(); }));
    auto t0 = Clock::now();
    weft::with_timeout(20ms, [&] {
      weft::with_timeout(1h, [&] {
        try {
          ev.wait();
          FAIL("woken by nothing");
        } catch (const std::system_error& e) {
          CHECK(e.code() == std::errc::timed_out);
        }
      });
    });
    CHECK(ms_since(t0) >= 20);
    // Many waiters with short deadlines racing one set(): nobody hangs.
    std::vector<weft::JoinHandle<void>> hs;
    std::atomic<int> ok{0}, timed_out{0};
    for (int i = 0; i < 500; ++i)
      hs.push_back(weft::spawn([&, i] {
        if (ev.wait_for(std::chrono::microseconds(i % 2 ? 1'000'000'000 : (i * 7) % 300))) {
          ++ok;
        } else {
          ++timed_out;
        }
      }));
    weft::this_fiber::yield();
    ev.set();
    for (auto& h : hs) h.join();
    CHECK(ok.load() + timed_out.load() == 500);
    CHECK(ok.load() >= 250);
  });
}
