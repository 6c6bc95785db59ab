// A fiber parked on an idle runtime is woken from a plain std::thread.
//
// The wake comes from a thread that is not a worker, so it reaches the
// scheduler through Boost.Fiber's remote-ready path and the algorithm's
// notify(); if notify() does not wake a parked worker, the fiber sleeps
// forever (boostorg/fiber#327 is that bug in algo::work_stealing). Each round
// waits until a worker has parked since the fiber was spawned, then wakes the
// fiber from a fresh thread and gives it a bounded time to finish.
#include <atomic>
#include <thread>
#include <vector>

#include <boost/fiber/condition_variable.hpp>
#include <boost/fiber/future.hpp>
#include <boost/fiber/mutex.hpp>

#include "support.hpp"

using namespace weft_test;

namespace {

constexpr int kRounds = 100;

// wait_for_park() returns once the runtime has parked a worker since `since`
// (a parks count taken before the fiber was spawned) and the fiber has
// reported that it is about to wait.
void wait_for_park(weft::Runtime& rt, std::size_t since, const std::atomic<bool>& waiting) {
  REQUIRE(wait_until([&] { return waiting.load(); }, 10s));
  REQUIRE_MESSAGE(wait_until([&] { return rt.stats().parks > since; }, 10s),
                  "no worker parked although the only fiber is waiting");
}

}  // namespace

TEST_CASE("a fiber waiting on a fibers::future is woken by a plain thread") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "future woken from a thread");
  weft::Runtime rt(config(workers));
  rt.start();
  for (int round = 0; round < kRounds; ++round) {
    CAPTURE(round);
    boost::fibers::promise<int> promise;
    std::atomic<bool> waiting{false};
    std::size_t parks = rt.stats().parks;
    auto h = rt.spawn([&waiting, f = promise.get_future()]() mutable {
      waiting = true;
      return f.get();
    });
    wait_for_park(rt, parks, waiting);
    std::thread([&] { promise.set_value(round); }).join();
    REQUIRE_MESSAGE(wait_until([&] { return h.is_finished(); }, 5s),
                    "the woken fiber did not finish: lost wakeup");
    CHECK(h.join() == round);
  }
}

TEST_CASE("a fiber waiting on a fibers::condition_variable is woken by a plain thread") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "condition variable notified from a thread");
  weft::Runtime rt(config(workers));
  rt.start();
  for (int round = 0; round < kRounds; ++round) {
    CAPTURE(round);
    boost::fibers::mutex mu;
    boost::fibers::condition_variable cv;
    bool ready = false;  // guarded by mu
    std::atomic<bool> waiting{false};
    std::size_t parks = rt.stats().parks;
    auto h = rt.spawn([&] {
      std::unique_lock<boost::fibers::mutex> lock(mu);
      waiting = true;
      cv.wait(lock, [&] { return ready; });
    });
    wait_for_park(rt, parks, waiting);
    std::thread([&] {
      {
        std::lock_guard<boost::fibers::mutex> lock(mu);
        ready = true;
      }
      cv.notify_one();
    }).join();
    REQUIRE_MESSAGE(wait_until([&] { return h.is_finished(); }, 5s),
                    "the notified fiber did not finish: lost wakeup");
    h.join();
  }
}

TEST_CASE("a plain thread blocked in join is woken when a woken fiber finishes") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "thread join after a remote wake");
  weft::Runtime rt(config(workers));
  rt.start();
  // Here the main thread sits in join() (the thread-waiter path) while the
  // fiber is parked, and the wake chain is thread -> fiber -> joining thread.
  for (int round = 0; round < kRounds; ++round) {
    CAPTURE(round);
    boost::fibers::promise<void> promise;
    std::atomic<bool> waiting{false};
    std::size_t parks = rt.stats().parks;
    auto h = rt.spawn([&waiting, f = promise.get_future()]() mutable {
      waiting = true;
      f.get();
      return 1;
    });
    wait_for_park(rt, parks, waiting);
    std::thread waker([&] { promise.set_value(); });
    CHECK(h.join() == 1);  // bounded by the watchdog
    waker.join();
  }
}

TEST_CASE("a fiber spawned from a plain thread into an idle runtime runs") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "remote spawn into an idle runtime");
  weft::Runtime rt(config(workers));
  rt.start();
  // Each round waits for a park that happened after the previous round's
  // spawn (the first round: after start), so the worker that ran the last
  // fiber has gone idle, then spawns from a fresh thread.
  std::size_t last = 0;
  for (int round = 0; round < kRounds; ++round) {
    CAPTURE(round);
    REQUIRE(wait_until([&] { return rt.stats().parks > last; }, 10s));
    last = rt.stats().parks;
    std::atomic<bool> ran{false};
    weft::JoinHandle<void> h;
    std::thread([&] { h = rt.spawn([&] { ran = true; }); }).join();
    REQUIRE_MESSAGE(wait_until([&] { return ran.load(); }, 5s),
                    "a fiber spawned into an idle runtime did not run");
    h.join();
  }
}

TEST_CASE("a thousand fibers woken at once by several plain threads all finish") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "mass remote wake");
  weft::Runtime rt(config(workers));
  constexpr int kFibers = 1'000;
  constexpr int kThreads = 4;
  for (int round = 0; round < 10; ++round) {
    CAPTURE(round);
    std::vector<boost::fibers::promise<int>> promises(kFibers);
    std::vector<weft::JoinHandle<int>> hs;
    std::atomic<int> waiting{0};
    for (int i = 0; i < kFibers; ++i) {
      hs.push_back(rt.spawn([&waiting, f = promises[i].get_future()]() mutable {
        waiting.fetch_add(1);
        return f.get();
      }));
    }
    REQUIRE(wait_until([&] { return waiting.load() == kFibers; }, 10s));
    // Interleaved, so wakes for the same worker come from different threads.
    std::vector<std::thread> wakers;
    for (int t = 0; t < kThreads; ++t) {
      wakers.emplace_back([&, t] {
        for (int i = t; i < kFibers; i += kThreads) promises[i].set_value(i);
      });
    }
    for (auto& t : wakers) t.join();
    REQUIRE_MESSAGE(wait_until([&] {
                      for (auto& h : hs) {
                        if (!h.is_finished()) return false;
                      }
                      return true;
                    }, 10s),
                    "some woken fibers never ran: lost wakeup");
    long long sum = 0;
    for (auto& h : hs) sum += h.join();
    CHECK(sum == 1LL * kFibers * (kFibers - 1) / 2);
  }
}
