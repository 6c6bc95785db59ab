// weft::Barrier: phases with one leader each, memory visibility across a
// phase, withdrawal of an arrival that gave up, arrive_and_drop, thousands of
// participants, plain threads.
#include <system_error>
#include <thread>
#include <vector>

#include "sync_support.hpp"

using namespace sync_test;

TEST_CASE("Barrier: each phase has one leader and sees everyone's writes") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "Barrier phases");
  constexpr int kParties = 16, kPhases = 200;
  weft::run(config(workers), [&] {
    weft::Barrier bar(kParties);
    CHECK(bar.parties() == kParties);
    std::vector<int> slots(kParties, -1);
    std::vector<std::atomic<int>> leaders(kPhases);
    std::atomic<int> bad{0};
    std::vector<weft::JoinHandle<void>> hs;
    for (int p = 0; p < kParties; ++p) {
      hs.push_back(weft::spawn([&, p] {
        for (int ph = 0; ph < kPhases; ++ph) {
          slots[p] = ph;
          if (bar.arrive_and_wait()) ++leaders[ph];
          for (int q = 0; q < kParties; ++q)
            if (slots[q] != ph) ++bad;
          bar.arrive_and_wait();  // nobody writes the next phase before all read
        }
      }));
    }
    for (auto& h : hs) h.join();
    CHECK(bad.load() == 0);
    for (auto& l : leaders) CHECK(l.load() == 1);
    CHECK(bar.phase() == 2 * kPhases);
  });
}

TEST_CASE("Barrier: thousands of fibers meet repeatedly") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "Barrier thousands");
  constexpr int kParties = 2000, kPhases = 10;
  weft::run(config(workers), [&] {
    weft::Barrier bar(kParties);
    std::atomic<int> leaders{0};
    std::vector<weft::JoinHandle<void>> hs;
    for (int p = 0; p < kParties; ++p)
      hs.push_back(weft::spawn([&] {
        for (int ph = 0; ph < kPhases; ++ph)
          if (bar.arrive_and_wait()) ++leaders;
      }));
    for (auto& h : hs) h.join();
    CHECK(leaders.load() == kPhases);
    CHECK(bar.phase() == kPhases);
  });
}

TEST_CASE("Barrier: an arrival that times out or is cancelled is withdrawn") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "Barrier withdrawal");
  weft::run(config(workers), [&] {
    weft::Barrier bar(2);
    std::error_code ec;
    CHECK_FALSE(bar.arrive_and_wait(ec, weft::deadline_in(10ms)));
    CHECK(ec == std::errc::timed_out);
    // A deadline scope does the same to the throwing form.
    weft::with_timeout(10ms, [&] {
      try {
        bar.arrive_and_wait();
        FAIL("a phase of 2 completed with one arrival");
      } catch (const std::system_error& e) {
        CHECK(e.code() == std::errc::timed_out);
      }
    });
    std::atomic<bool> waiting{false};
    auto victim = weft::spawn([&] {
      waiting = true;
      bar.arrive_and_wait();
    });
    REQUIRE(fiber_wait_until([&] { return waiting.load(); }, 10s));
    for (int i = 0; i < 10; ++i) weft::this_fiber::yield();
    victim.cancel();
    CHECK(throws_cancelled([&] { victim.join(); }));
    CHECK(bar.phase() == 0);
    // Had any arrival stayed, the next one alone would complete the phase.
    std::atomic<int> leaders{0};
    auto a = weft::spawn([&] { leaders += bar.arrive_and_wait(); });
    auto b = weft::spawn([&] { leaders += bar.arrive_and_wait(); });
    a.join();
    b.join();
    CHECK(leaders.load() == 1);
    CHECK(bar.phase() == 1);
  });
}

TEST_CASE("Barrier: arrive_and_drop shrinks the party") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    weft::Barrier bar(3);
    auto a = weft::spawn([&] {
      bar.arrive_and_wait();
      bar.arrive_and_wait();
    });
    auto b = weft::spawn([&] { bar.arrive_and_wait(); });
    bar.arrive_and_drop();  // phase 0 needs a and b only, and so does phase 1
    b.join();
    REQUIRE(fiber_wait_until([&] { return bar.phase() == 1; }, 10s));
    CHECK(bar.parties() == 2);
    bar.arrive_and_wait();
    a.join();
    CHECK(bar.phase() == 2);
  });
}

TEST_CASE("Barrier: plain threads and fibers in one party") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "Barrier threads");
  constexpr int kThreads = 2, kFibers = 6, kPhases = 100;
  weft::Runtime rt(config(workers));
  weft::Barrier bar(kThreads + kFibers);
  std::atomic<int> leaders{0};
  std::vector<weft::JoinHandle<void>> hs;
  for (int f = 0; f < kFibers; ++f)
    hs.push_back(rt.spawn([&] {
      for (int ph = 0; ph < kPhases; ++ph) leaders += bar.arrive_and_wait();
    }));
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&] {
      for (int ph = 0; ph < kPhases; ++ph) leaders += bar.arrive_and_wait();
    });
  for (auto& t : ts) t.join();
  for (auto& h : hs) h.join();
  rt.shutdown();
  CHECK(leaders.load() == kPhases);
}
