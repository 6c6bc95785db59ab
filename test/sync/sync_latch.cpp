// weft::Latch and weft::WaitGroup: release on zero, misuse, give-ups that
// leave no trace, reuse of a WaitGroup, thousands of fibers, plain threads.
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "sync_support.hpp"

using namespace sync_test;

TEST_CASE("Latch: counts down once, releases everyone, then stays open") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "Latch");
  weft::run(config(workers), [&] {
    weft::Latch latch(3);
    CHECK_FALSE(latch.try_wait());
    CHECK_FALSE(latch.wait_for(1ms));
    std::atomic<int> released{0};
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < 50; ++i)
      hs.push_back(weft::spawn([&] {
        latch.wait();
        ++released;
      }));
    latch.count_down();
    latch.count_down();
    for (int i = 0; i < 10; ++i) weft::this_fiber::yield();
    CHECK(released.load() == 0);
    latch.count_down();
    for (auto& h : hs) h.join();
    CHECK(released.load() == 50);
    CHECK(latch.try_wait());
    latch.wait();
    CHECK_THROWS_AS(latch.count_down(), std::logic_error);
  });
}

TEST_CASE("Latch: waiters that time out or are cancelled leave it working") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    weft::Latch latch(1);
    std::error_code ec;
    CHECK_FALSE(latch.wait(ec, weft::deadline_in(5ms)));
    CHECK(ec == std::errc::timed_out);
    weft::with_timeout(5ms, [&] { CHECK_THROWS_AS(latch.wait(), std::system_error); });
    std::atomic<bool> waiting{false};
    auto victim = weft::spawn([&] {
      waiting = true;
      latch.wait();
    });
    REQUIRE(fiber_wait_until([&] { return waiting.load(); }, 10s));
    for (int i = 0; i < 10; ++i) weft::this_fiber::yield();
    victim.cancel();
    CHECK(throws_cancelled([&] { victim.join(); }));
    auto waiter = weft::spawn([&] { latch.wait(); });
    latch.count_down();
    waiter.join();
  });
}

TEST_CASE("Latch: thousands of fibers and a plain thread arrive and wait") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "Latch thousands");
  constexpr int kFibers = 3000;
  weft::Runtime rt(config(workers));
  weft::Latch latch(kFibers + 1);
  std::atomic<int> past{0};
  std::vector<weft::JoinHandle<void>> hs;
  for (int i = 0; i < kFibers; ++i)
    hs.push_back(rt.spawn([&] {
      latch.arrive_and_wait();
      ++past;
    }));
  std::thread t([&] {
    latch.arrive_and_wait();
    ++past;
  });
  t.join();
  for (auto& h : hs) h.join();
  rt.shutdown();
  CHECK(past.load() == kFibers + 1);
}

TEST_CASE("WaitGroup: add, done, wait, and reuse") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "WaitGroup");
  constexpr int kFibers = 3000;
  weft::run(config(workers), [&] {
    weft::WaitGroup wg;
    wg.wait();  // zero: returns at once
    for (int round = 0; round < 3; ++round) {
      std::atomic<int> finished{0};
      for (int i = 0; i < kFibers; ++i) {
        wg.add();
        weft::spawn([&] {
          if (finished.load() % 5 == 0) weft::this_fiber::yield();
          ++finished;
          wg.done();
        }).detach();
      }
      wg.wait();
      CHECK(finished.load() == kFibers);
      CHECK(wg.count() == 0);
    }
    CHECK_THROWS_AS(wg.done(), std::logic_error);
    CHECK(wg.count() == 0);
  });
}

TEST_CASE("WaitGroup: give-ups leave no trace; plain threads wait too") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "WaitGroup give-ups");
  weft::Runtime rt(config(workers));
  weft::WaitGroup wg;
  wg.add(2);
  CHECK_FALSE(wg.wait_for(5ms));
  std::error_code ec;
  CHECK_FALSE(wg.wait(ec, weft::deadline_in(2ms)));
  CHECK(ec == std::errc::timed_out);
  std::atomic<bool> waiting{false};
  auto victim = rt.spawn([&] {
    waiting = true;
    wg.wait();
  });
  REQUIRE(thread_wait_until([&] { return waiting.load(); }, 10s));
  victim.cancel();
  CHECK(throws_cancelled([&] { victim.join(); }));
  auto fiber_waiter = rt.spawn([&] { wg.wait(); });
  std::thread thread_waiter([&] { wg.wait(); });
  rt.spawn([&] { wg.done(); }).join();
  CHECK_FALSE(fiber_waiter.is_finished());
  wg.done();
  thread_waiter.join();
  fiber_waiter.join();
  rt.shutdown();
}
