// Fairness: a fiber that keeps yielding, or a pair that keeps waking each
// other, must not starve fibers spawned from outside, fibers in the local
// queue, or sleepers whose deadline has passed. Each starving party is given
// a bounded time; the busy fibers stop by themselves at a deadline so that a
// failure ends the test instead of hanging it.
#include <atomic>
#include <vector>

#include <boost/fiber/condition_variable.hpp>
#include <boost/fiber/mutex.hpp>

#include "support.hpp"

using namespace weft_test;

namespace {

// yield_until() yields until flag is set or the deadline passes; returns
// whether the flag was seen.
bool yield_until(const std::atomic<bool>& flag, Clock::time_point deadline) {
  while (!flag.load()) {
    if (Clock::now() >= deadline) return false;
    weft::this_fiber::yield();
  }
  return true;
}

}  // namespace

TEST_CASE("fibers that only yield do not starve a fiber spawned from a plain thread") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "yield vs injected");
  weft::Runtime rt(config(workers));
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    std::atomic<bool> flag{false};
    std::atomic<unsigned> spinning{0};
    auto deadline = Clock::now() + 5s;
    std::vector<weft::JoinHandle<bool>> spinners;
    // One yielding fiber per worker keeps every worker busy.
    for (unsigned i = 0; i < workers; ++i) {
      spinners.push_back(rt.spawn([&] {
        spinning.fetch_add(1);
        return yield_until(flag, deadline);
      }));
    }
    REQUIRE(wait_until([&] { return spinning.load() == workers; }, 10s));
    auto t0 = Clock::now();
    auto setter = rt.spawn([&] { flag = true; });
    setter.join();
    CHECK(ms_since(t0) < 3'000);  // starved, it would wait for the spinners' 5 s
    for (auto& h : spinners) CHECK(h.join());
  }
}

TEST_CASE("a yielding fiber does not starve the fibers it spawned") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "yield vs local queue");
  weft::Runtime rt(config(workers));
  bool ok = rt.block_on([] {
    std::atomic<bool> flag{false};
    auto deadline = Clock::now() + 5s;
    // The child parks once (so it is queued behind the spawner), then sets
    // the flag the spawner yields on.
    auto child = weft::spawn([&] {
      weft::this_fiber::yield();
      flag = true;
    });
    bool seen = yield_until(flag, deadline);
    child.join();
    return seen;
  });
  CHECK(ok);
}

TEST_CASE("a sleeper wakes on time while other fibers only yield") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "yield vs timers");
  weft::Runtime rt(config(workers));
  std::atomic<bool> flag{false};
  auto deadline = Clock::now() + 5s;
  std::vector<weft::JoinHandle<bool>> spinners;
  for (unsigned i = 0; i < workers; ++i) {
    spinners.push_back(rt.spawn([&] { return yield_until(flag, deadline); }));
  }
  auto sleeper = rt.spawn([&] {
    auto t0 = Clock::now();
    weft::this_fiber::sleep_for(20ms);
    flag = true;
    return Clock::now() - t0;
  });
  auto took = sleeper.join();
  CHECK(took >= 20ms);
  CHECK(took < 20ms + 2s);  // starved, it would wait for the spinners' 5 s
  for (auto& h : spinners) CHECK(h.join());
}

TEST_CASE("a ping-pong pair does not starve a third fiber") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "ping-pong vs third");
  weft::Runtime rt(config(workers));
  // Two fibers hand a token back and forth through a fiber condition
  // variable: each wake puts the other in the LIFO slot, ahead of the queue.
  // The third fiber is queued behind them and must still run.
  boost::fibers::mutex mu;
  boost::fibers::condition_variable cv;
  int turn = 0;  // guarded by mu
  std::atomic<bool> third_ran{false};
  std::atomic<long> exchanges{0};
  auto deadline = Clock::now() + 5s;
  auto player = [&](int me) {
    std::unique_lock<boost::fibers::mutex> lock(mu);
    while (!third_ran.load() && Clock::now() < deadline) {
      cv.wait(lock, [&] { return turn == me || third_ran.load() || Clock::now() >= deadline; });
      turn = 1 - me;
      exchanges.fetch_add(1);
      cv.notify_all();
    }
    turn = 1 - me;
    cv.notify_all();
  };
  bool ok = rt.block_on([&] {
    auto a = weft::spawn([&] { player(0); });
    auto b = weft::spawn([&] { player(1); });
    auto third = weft::spawn([&] {
      weft::this_fiber::yield();  // queued behind the pair, not run at once
      third_ran = true;
      std::lock_guard<boost::fibers::mutex> lock(mu);
      cv.notify_all();
    });
    third.join();
    a.join();
    b.join();
    return third_ran.load();
  });
  INFO("exchanges before the third fiber ran: " << exchanges.load());
  CHECK(ok);
  CHECK(Clock::now() < deadline);  // ended by the third fiber, not the deadline
}
