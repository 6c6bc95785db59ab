// Work spreads across workers: CPU-bound fibers that never yield can only all
// be running at once if each sits on a worker of its own. Each fiber spins
// until the shared count shows all of them running (bounded by a deadline), so
// the test finishes whether or not the scheduler spreads the work, and then
// asserts on the distinct worker indices the fibers saw.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <vector>

#include "support.hpp"

using namespace weft_test;

namespace {

// Spread records what a group of spinning fibers observed.
struct Spread {
  explicit Spread(unsigned n) : n(n) {}
  const unsigned n;                  // fibers that must run concurrently
  std::atomic<unsigned> running{0};  // fibers that have started spinning
  std::atomic<bool> all_seen{false}; // some fiber saw all n spinning at once
  std::mutex mu;
  std::multiset<int> workers;        // worker_index() of each fiber, guarded by mu

  // spin() is the body of one fiber: no waiting call, so it stays on the
  // worker that started it, and its worker can run nothing else meanwhile.
  void spin(Clock::time_point deadline) {
    int before = weft::this_fiber::worker_index();
    running.fetch_add(1);
    while (!all_seen.load() && Clock::now() < deadline) {
      if (running.load() >= n) all_seen = true;
    }
    // One that gave up no longer runs: fibers started after it must not
    // count it, or running one after the other would pass for spreading.
    if (!all_seen.load()) running.fetch_sub(1);
    int after = weft::this_fiber::worker_index();
    CHECK(before == after);  // nothing can move a fiber that does not wait
    std::lock_guard<std::mutex> lock(mu);
    workers.insert(before);
  }

  std::size_t distinct() {
    std::lock_guard<std::mutex> lock(mu);
    return std::set<int>(workers.begin(), workers.end()).size();
  }
};

}  // namespace

TEST_CASE("CPU-bound fibers spawned from one fiber end up on N distinct workers") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "spread from a fiber");
  weft::Runtime rt(config(workers));
  // Each spawn runs the child at once on the spawner's worker; the spawner
  // only continues once another worker steals it, so this needs stealing.
  for (int round = 0; round < 5; ++round) {
    CAPTURE(round);
    Spread s(workers);
    auto deadline = Clock::now() + 5s;
    rt.block_on([&] {
      std::vector<weft::JoinHandle<void>> hs;
      for (unsigned i = 0; i < workers; ++i) hs.push_back(weft::spawn([&] { s.spin(deadline); }));
      for (auto& h : hs) h.join();
    });
    // A round that failed took the whole deadline: stop at the first.
    REQUIRE(s.all_seen.load());
    CHECK(s.distinct() == workers);
    for (int w : s.workers) {
      CHECK(w >= 0);
      CHECK(w < static_cast<int>(workers));
    }
  }
}

TEST_CASE("CPU-bound fibers spawned from a plain thread end up on N distinct workers") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "spread from a thread");
  weft::Runtime rt(config(workers));
  for (int round = 0; round < 5; ++round) {
    CAPTURE(round);
    Spread s(workers);
    auto deadline = Clock::now() + 5s;
    std::vector<weft::JoinHandle<void>> hs;
    for (unsigned i = 0; i < workers; ++i) hs.push_back(rt.spawn([&] { s.spin(deadline); }));
    for (auto& h : hs) h.join();
    REQUIRE(s.all_seen.load());
    CHECK(s.distinct() == workers);
  }
}

TEST_CASE("a burst of short fibers from one fiber is shared out and all complete") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "burst");
  weft::Runtime rt(config(workers));
  // Fibers that do a little work and yield: the queue of the spawning worker
  // grows, and idle workers must take from it. All must complete, and with
  // more than one worker some of them must have run elsewhere.
  std::mutex mu;
  std::set<int> seen;
  rt.block_on([&] {
    std::vector<weft::JoinHandle<void>> hs;
    for (int i = 0; i < 2'000; ++i) {
      hs.push_back(weft::spawn([&] {
        for (int k = 0; k < 5; ++k) {
          auto until = Clock::now() + 20us;
          while (Clock::now() < until) {
          }
          {
            std::lock_guard<std::mutex> lock(mu);
            seen.insert(weft::this_fiber::worker_index());
          }
          weft::this_fiber::yield();  // never with a std::mutex held
        }
      }));
    }
    for (auto& h : hs) h.join();
  });
  CHECK(seen.size() == workers);
}
