// weft::CondVar: notification without lost wakeups (a 100,000-round
// ping-pong, notify_one skipping waiters that gave up), the mutex held again
// on every way out (notified, timed out, cancelled), deadline scopes, and
// plain threads on either side.
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "sync_support.hpp"

using namespace sync_test;

TEST_CASE("CondVar: wait with a predicate, wait_for timing out with the lock held") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    weft::Mutex mu;
    weft::CondVar cv;
    bool ready = false;
    auto h = weft::spawn([&] {
      std::unique_lock<weft::Mutex> lk(mu);
      cv.wait(lk, [&] { return ready; });
      CHECK(lk.owns_lock());
      CHECK_FALSE(mu.try_lock());
    });
    {
      std::lock_guard<weft::Mutex> g(mu);
      ready = true;
    }
    cv.notify_one();
    h.join();
    std::unique_lock<weft::Mutex> lk(mu);
    CHECK(cv.wait_for(lk, 5ms) == std::cv_status::timeout);
    CHECK(lk.owns_lock());
    CHECK_FALSE(cv.wait_for(lk, 5ms, [] { return false; }));
    std::error_code ec;
    CHECK_FALSE(cv.wait(lk, ec, weft::deadline_in(2ms)));
    CHECK(ec == std::errc::timed_out);
    CHECK(lk.owns_lock());
  });
}

TEST_CASE("CondVar: 100,000 ping-pong rounds lose no wakeup") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(ping_pong_watchdog(), "CondVar ping-pong");
  int rounds = 0;
  std::atomic<int> stuck{0};
  weft::run(config(workers), [&] {
    weft::Mutex mu;
    weft::CondVar cv;
    int turn = 0;       // guarded by mu: whose move it is
    bool stop = false;  // guarded by mu
    auto other = weft::spawn([&] {
      std::unique_lock<weft::Mutex> lk(mu);
      for (;;) {
        // A lost wakeup would end this wait on its deadline, not hang.
        if (!cv.wait_for(lk, kStepDeadline, [&] { return turn == 1 || stop; })) {
          ++stuck;
          return;
        }
        if (stop) return;
        turn = 0;
        cv.notify_one();
      }
    });
    const auto budget_end = Clock::now() + ping_pong_budget();
    std::unique_lock<weft::Mutex> lk(mu);
    for (; rounds < kPingPongRounds; ++rounds) {
      if (rounds % 1024 == 0 && Clock::now() > budget_end) break;
      turn = 1;
      cv.notify_one();
      if (!cv.wait_for(lk, kStepDeadline, [&] { return turn == 0; })) {
        ++stuck;
        break;
      }
    }
    stop = true;
    cv.notify_one();
    lk.unlock();
    other.join();
  });
  check_ping_pong(workers, rounds, stuck.load());
}

TEST_CASE("CondVar: notify_one skips waiters that timed out") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "CondVar notify past a departed waiter");
  weft::run(config(workers), [&] {
    weft::Mutex mu;
    weft::CondVar cv;
    std::atomic<int> stage{0};
    bool go = false;  // guarded by mu
    auto quitter = weft::spawn([&] {
      std::unique_lock<weft::Mutex> lk(mu);
      stage = 1;
      CHECK(cv.wait_for(lk, 20ms) == std::cv_status::timeout);
    });
    REQUIRE(fiber_wait_until([&] { return stage.load() == 1; }, 10s));
    auto stayer = weft::spawn([&] {
      std::unique_lock<weft::Mutex> lk(mu);
      stage = 2;
      cv.wait(lk, [&] { return go; });
    });
    REQUIRE(fiber_wait_until([&] { return stage.load() == 2; }, 10s));
    quitter.join();
    {
      std::lock_guard<weft::Mutex> g(mu);
      go = true;
    }
    cv.notify_one();  // one notification, and it must reach the stayer
    stayer.join();
  });
}

TEST_CASE("CondVar: producers and consumers with give-ups consume every item") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "CondVar queue");
  constexpr int kProducers = 20, kConsumers = 200, kItems = 100;
  weft::run(config(workers), [&] {
    weft::Mutex mu;
    weft::CondVar cv;
    long items = 0, consumed = 0;  // guarded by mu
    int producers_left = kProducers;  // guarded by mu
    std::vector<weft::JoinHandle<void>> hs;
    for (int c = 0; c < kConsumers; ++c) {
      hs.push_back(weft::spawn([&, c] {
        std::unique_lock<weft::Mutex> lk(mu);
        for (int n = 0;; ++n) {
          if (items > 0) {
            --items;
            ++consumed;
            continue;
          }
          if (producers_left == 0) return;
          // Some waits end on short deadlines: a notify_one must then reach
          // another waiter.
          if ((c + n) % 4 == 0) {
            cv.wait_for(lk, std::chrono::microseconds(50 + (c * 13 + n) % 200));
          } else {
            cv.wait(lk);
          }
        }
      }));
    }
    for (int p = 0; p < kProducers; ++p) {
      hs.push_back(weft::spawn([&] {
        for (int i = 0; i < kItems; ++i) {
          {
            std::lock_guard<weft::Mutex> g(mu);
            ++items;
          }
          cv.notify_one();
          if (i % 10 == 0) weft::this_fiber::yield();
        }
        std::lock_guard<weft::Mutex> g(mu);
        if (--producers_left == 0) cv.notify_all();
      }));
    }
    for (auto& h : hs) h.join();
    CHECK(consumed == long{kProducers} * kItems);
    CHECK(items == 0);
  });
}

TEST_CASE("CondVar: a cancelled waiter re-takes the mutex before Cancelled leaves") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "CondVar cancellation");
  weft::run(config(workers), [&] {
    weft::Mutex mu;
    weft::CondVar cv;
    std::atomic<int> stage{0};
    std::atomic<bool> held_when_cancelled{false};
    auto victim = weft::spawn([&] {
      std::unique_lock<weft::Mutex> lk(mu);
      stage = 1;
      try {
        cv.wait(lk);
      } catch (const weft::Cancelled&) {
        held_when_cancelled = lk.owns_lock() && !mu.try_lock();
        stage = 2;
        throw;
      }
    });
    REQUIRE(fiber_wait_until([&] { return stage.load() == 1; }, 10s));
    mu.lock();  // the victim has released it: it is parked in wait()
    victim.cancel();
    // It cannot leave wait() while we hold the mutex.
    for (int i = 0; i < 50; ++i) weft::this_fiber::yield();
    CHECK(stage.load() == 1);
    CHECK_FALSE(victim.is_finished());
    mu.unlock();
    CHECK(throws_cancelled([&] { victim.join(); }));
    CHECK(held_when_cancelled.load());
    // Mutex free, CondVar still works.
    CHECK(mu.try_lock());
    mu.unlock();
    bool go = false;
    auto next = weft::spawn([&] {
      std::unique_lock<weft::Mutex> lk(mu);
      cv.wait(lk, [&] { return go; });
    });
    {
      std::lock_guard<weft::Mutex> g(mu);
      go = true;
    }
    cv.notify_all();
    next.join();
  });
}

TEST_CASE("CondVar: a deadline scope ends wait() with timed_out and the lock held") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    weft::Mutex mu;
    weft::CondVar cv;
    auto t0 = Clock::now();
    weft::with_timeout(10s, [&] {
      weft::with_timeout(20ms, [&] {
        std::unique_lock<weft::Mutex> lk(mu);
        try {
          cv.wait(lk);
          FAIL("woken without a notification");
        } catch (const std::system_error& e) {
          CHECK(e.code() == std::errc::timed_out);
        }
        CHECK(lk.owns_lock());
        CHECK(cv.wait_for(lk, 1h) == std::cv_status::timeout);
      });
    });
    CHECK(ms_since(t0) >= 20);
    CHECK(ms_since(t0) < 5'000);
  });
}

TEST_CASE("CondVar: re-taking the mutex is not cut short by the deadline scope") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    weft::Mutex mu;
    weft::CondVar cv;
    weft::Event waiting;
    std::atomic<bool> owned{false};
    auto h = weft::spawn([&] {
      weft::with_timeout(20ms, [&] {
        std::unique_lock<weft::Mutex> lk(mu);
        waiting.set();
        CHECK(cv.wait_for(lk, 1h) == std::cv_status::timeout);
        owned = lk.owns_lock();
      });
    });
    waiting.wait();
    mu.lock();  // held well past the waiter's deadline
    for (int i = 0; i < 20; ++i) weft::this_fiber::sleep_for(2ms);
    CHECK_FALSE(h.is_finished());
    mu.unlock();
    h.join();
    CHECK(owned.load());
  });
}

TEST_CASE("CondVar: plain threads wait and notify alongside fibers") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "CondVar threads");
  constexpr int kRounds = 300;
  weft::Runtime rt(config(workers));
  weft::Mutex mu;
  weft::CondVar cv;
  int turn = 0;  // guarded by mu: 0 thread, 1 fiber
  std::atomic<int> stuck{0};
  auto fiber = rt.spawn([&] {
    for (int i = 0; i < kRounds; ++i) {
      std::unique_lock<weft::Mutex> lk(mu);
      if (!cv.wait_for(lk, 30s, [&] { return turn == 1; })) ++stuck;
      turn = 0;
      cv.notify_all();
    }
  });
  std::thread thread([&] {
    for (int i = 0; i < kRounds; ++i) {
      std::unique_lock<weft::Mutex> lk(mu);
      if (!cv.wait_for(lk, 30s, [&] { return turn == 0; })) ++stuck;
      turn = 1;
      cv.notify_all();
    }
  });
  thread.join();
  fiber.join();
  rt.shutdown();
  CHECK(stuck.load() == 0);
}
