// weft::Semaphore: counting, a 100,000-round ping-pong, bounded concurrency
// under thousands of fibers, FIFO grants (a large request is not overtaken),
// give-ups that leave permits intact and pass them on, plain threads.
#include <system_error>
#include <thread>
#include <vector>

#include "sync_support.hpp"

using namespace sync_test;

TEST_CASE("Semaphore: counts permits") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    weft::Semaphore sem(3);
    CHECK(sem.available() == 3);
    CHECK(sem.try_acquire(2));
    CHECK_FALSE(sem.try_acquire(2));
    CHECK(sem.try_acquire());
    CHECK_FALSE(sem.try_acquire());
    CHECK_FALSE(sem.try_acquire_for(1ms));
    std::error_code ec;
    CHECK_FALSE(sem.acquire(1, ec, weft::deadline_in(1ms)));
    CHECK(ec == std::errc::timed_out);
    sem.release(5);
    CHECK(sem.available() == 5);
    sem.acquire(5);
    CHECK(sem.available() == 0);
    sem.release();
    CHECK(sem.try_acquire_until(weft::deadline_in(1ms)));
  });
}

TEST_CASE("Semaphore: 100,000 ping-pong rounds lose no wakeup") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(ping_pong_watchdog(), "Semaphore ping-pong");
  int rounds = 0;
  std::atomic<int> stuck{0};
  weft::run(config(workers), [&] {
    weft::Semaphore ping(0), pong(0);
    std::atomic<bool> stop{false};
    auto other = weft::spawn([&] {
      for (;;) {
        if (!ping.try_acquire_for(kStepDeadline)) {
          ++stuck;
          return;
        }
        if (stop.load()) return;
        pong.release();
      }
    });
    const auto budget_end = Clock::now() + ping_pong_budget();
    for (; rounds < kPingPongRounds; ++rounds) {
      if (rounds % 1024 == 0 && Clock::now() > budget_end) break;
      ping.release();
      if (!pong.try_acquire_for(kStepDeadline)) {
        ++stuck;
        break;
      }
    }
    stop = true;
    ping.release();
    other.join();
    CHECK(ping.available() == 0);
    CHECK(pong.available() == 0);
  });
  check_ping_pong(workers, rounds, stuck.load());
}

TEST_CASE("Semaphore: thousands of fibers, never more inside than permits") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "Semaphore contention");
  constexpr int kFibers = 2000, kIters = 3, kPermits = 3;
  std::atomic<int> inside{0}, max_inside{0};
  weft::run(config(workers), [&] {
    weft::Semaphore sem(kPermits);
    std::vector<weft::JoinHandle<void>> hs;
    for (int f = 0; f < kFibers; ++f) {
      hs.push_back(weft::spawn([&, f] {
        for (int i = 0; i < kIters; ++i) {
          std::uint64_t n = (f + i) % 2 + 1;
          sem.acquire(n);
          int now = inside.fetch_add(static_cast<int>(n)) + static_cast<int>(n);
          int m = max_inside.load();
          while (now > m && !max_inside.compare_exchange_weak(m, now)) {
          }
          if (i % 3 == 0) weft::this_fiber::yield();
          inside.fetch_sub(static_cast<int>(n));
          sem.release(n);
        }
      }));
    }
    for (auto& h : hs) h.join();
    CHECK(sem.available() == kPermits);
  });
  CHECK(max_inside.load() <= kPermits);
}

TEST_CASE("Semaphore: a large request is served in order, not overtaken") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "Semaphore FIFO");
  weft::run(config(workers), [&] {
    weft::Semaphore sem(0);
    std::atomic<int> queued{0};
    auto big = weft::spawn([&] {
      ++queued;
      sem.acquire(3);
    });
    // Until the big one waits, a permit put out is taken back at once; once
    // it waits, nobody may take it but the big one (no barging).
    const auto until = Clock::now() + 10s;
    bool big_waits = false;
    while (!big_waits && Clock::now() < until) {
      sem.release(1);
      big_waits = !sem.try_acquire(1);
      if (!big_waits) weft::this_fiber::yield();
    }
    REQUIRE(big_waits);
    auto small = weft::spawn([&] {
      ++queued;
      sem.acquire(1);
    });
    REQUIRE(fiber_wait_until([&] { return queued.load() == 2; }, 10s));
    for (int i = 0; i < 10; ++i) weft::this_fiber::yield();
    sem.release(1);  // two out: enough for the small one, but the big one is first
    for (int i = 0; i < 20; ++i) weft::this_fiber::yield();
    CHECK_FALSE(small.is_finished());
    CHECK_FALSE(sem.try_acquire());  // newcomers do not barge either
    CHECK(sem.available() == 2);
    sem.release(1);  // the big one takes all three
    big.join();
    CHECK(sem.available() == 0);
    CHECK_FALSE(small.is_finished());
    sem.release(1);
    small.join();
    CHECK(sem.available() == 0);
  });
}

TEST_CASE("Semaphore: a head waiter that gives up lets the permits flow to those behind") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "Semaphore head give-up");
  weft::run(config(workers), [&] {
    weft::Semaphore sem(2);
    std::atomic<int> stage{0};
    auto big = weft::spawn([&] {
      stage = 1;
      CHECK_FALSE(sem.try_acquire_for(30ms, 5));
    });
    REQUIRE(fiber_wait_until([&] { return stage.load() == 1; }, 10s));
    // Behind the big request: its 2 permits are there, but not its turn.
    REQUIRE(fiber_wait_until(
        [&] {
          if (!sem.try_acquire()) return true;
          sem.release();
          return false;
        },
        10s));
    auto small = weft::spawn([&] { sem.acquire(2); });
    big.join();
    small.join();  // no release needed: the big one's departure lets it through
    CHECK(sem.available() == 0);
    sem.release(2);
    CHECK(sem.available() == 2);
  });
}

TEST_CASE("Semaphore: cancelled and timed-out acquirers keep the permit count intact") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "Semaphore give-ups");
  constexpr int kFibers = 200, kIters = 10;
  weft::run(config(workers), [&] {
    weft::Semaphore sem(0);
    std::atomic<int> waiting{0};
    auto victim = weft::spawn([&] {
      ++waiting;
      sem.acquire();
      FAIL("cancelled acquirer got a permit");
    });
    REQUIRE(fiber_wait_until([&] { return waiting.load() == 1; }, 10s));
    for (int i = 0; i < 10; ++i) weft::this_fiber::yield();
    victim.cancel();
    CHECK(throws_cancelled([&] { victim.join(); }));
    sem.release();
    CHECK(sem.available() == 1);

    // Random deadlines racing releases: no permit lost or duplicated.
    sem.release(1);  // 2 permits
    std::vector<weft::JoinHandle<void>> hs;
    for (int f = 0; f < kFibers; ++f) {
      hs.push_back(weft::spawn([&, f] {
        for (int i = 0; i < kIters; ++i) {
          if ((f + i) % 2 == 0) {
            if (!sem.try_acquire_for(std::chrono::microseconds((f * 31 + i * 7) % 200))) continue;
          } else {
            sem.acquire();
          }
          if (i % 4 == 0) weft::this_fiber::yield();
          sem.release();
        }
      }));
    }
    for (auto& h : hs) h.join();
    CHECK(sem.available() == 2);
  });
}

TEST_CASE("Semaphore: deadline scopes around acquire") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    weft::Semaphore sem(0);
    auto t0 = Clock::now();
    weft::with_timeout(20ms, [&] {
      weft::with_timeout(1h, [&] {
        try {
          sem.acquire();
          FAIL("acquired a missing permit");
        } catch (const std::system_error& e) {
          CHECK(e.code() == std::errc::timed_out);
        }
        CHECK_FALSE(sem.try_acquire_for(1h));
      });
    });
    CHECK(ms_since(t0) >= 20);
    sem.release();
    CHECK(sem.available() == 1);
  });
}

TEST_CASE("Semaphore: plain threads and fibers pass permits to each other") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "Semaphore threads");
  constexpr int kRounds = 300;
  weft::Runtime rt(config(workers));
  weft::Semaphore to_fiber(0), to_thread(0);
  std::atomic<int> stuck{0};
  auto fiber = rt.spawn([&] {
    for (int i = 0; i < kRounds; ++i) {
      if (!to_fiber.try_acquire_for(30s)) ++stuck;
      to_thread.release();
    }
  });
  std::thread thread([&] {
    for (int i = 0; i < kRounds; ++i) {
      to_fiber.release();
      if (!to_thread.try_acquire_for(30s)) ++stuck;
    }
  });
  thread.join();
  fiber.join();
  rt.shutdown();
  CHECK(stuck.load() == 0);
  CHECK(to_fiber.available() == 0);
  CHECK(to_thread.available() == 0);
}
