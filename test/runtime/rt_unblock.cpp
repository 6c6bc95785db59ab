// weft::unblock: blocking jobs run on the blocking pool while the worker runs
// other fibers; values and exceptions come back; the pool is bounded and its
// idle threads leave after blocking_keep_alive.
#include <algorithm>
#include <atomic>
#include <future>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace weft_test;

TEST_CASE("unblock does not stall the other fibers of a single worker") {
  Watchdog dog(60s, "unblock stall");
  weft::Runtime rt(config(1));
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    // The job blocks its thread until a second fiber on the same (only)
    // worker has run. Had unblock run the job on the worker, the second
    // fiber could not run and the job would time out and report false.
    std::promise<void> progress;
    std::future<void> progressed = progress.get_future();
    std::atomic<bool> job_started{false};
    auto [job_ok, other_ok] = rt.block_on([&] {
      auto blocker = weft::spawn([&] {
        return weft::unblock([&] {
          job_started = true;
          return progressed.wait_for(5s) == std::future_status::ready;
        });
      });
      auto other = weft::spawn([&] {
        // Only once the job runs, so it cannot have been satisfied early.
        bool seen = fiber_wait_until([&] { return job_started.load(); }, 5s);
        progress.set_value();
        return seen;
      });
      return std::pair{blocker.join(), other.join()};
    });
    CHECK(other_ok);
    CHECK(job_ok);
  }
}

TEST_CASE("unblock runs the job off the worker and returns values and exceptions") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "unblock values");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    auto worker_thread = std::this_thread::get_id();
    auto job_thread = weft::unblock([] { return std::this_thread::get_id(); });
    CHECK(job_thread != worker_thread);
    CHECK(weft::unblock([] { return weft::this_fiber::in_fiber(); }) == false);
    CHECK(weft::unblock([] { return weft::this_fiber::worker_index(); }) == -1);

    CHECK(weft::unblock([] { return 42; }) == 42);
    auto p = weft::unblock([] { return std::make_unique<int>(9); });
    REQUIRE(p);
    CHECK(*p == 9);
    int side = 0;
    weft::unblock([&side] { side = 3; });
    CHECK(side == 3);
    CHECK_THROWS_WITH_AS(weft::unblock([]() -> int { throw std::runtime_error("no such host"); }),
                         "no such host", std::runtime_error);
    // An lvalue callable is called through a reference, not copied.
    int calls = 0;
    auto counter = [&calls] { return ++calls; };
    CHECK(weft::unblock(counter) == 1);
    CHECK(weft::unblock(counter) == 2);
  });
}

TEST_CASE("unblock outside a fiber runs the job inline") {
  auto self = std::this_thread::get_id();
  CHECK(weft::unblock([] { return std::this_thread::get_id(); }) == self);
  CHECK(weft::unblock([] { return 5; }) == 5);
  CHECK_THROWS_WITH_AS(weft::unblock([] { throw std::runtime_error("inline"); }), "inline",
                       std::runtime_error);
}

TEST_CASE("more concurrent unblock calls than max_blocking_threads all complete") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "unblock beyond the pool bound");
  constexpr unsigned kMax = 3;
  weft::Runtime rt(config(workers).max_blocking_threads(kMax));
  std::atomic<int> in_flight{0}, peak{0}, done{0};
  std::atomic<unsigned> peak_threads{0};
  rt.block_on([&] {
    std::vector<weft::JoinHandle<int>> hs;
    for (int i = 0; i < 40; ++i) {
      hs.push_back(weft::spawn([&, i] {
        return weft::unblock([&, i] {
          int now = in_flight.fetch_add(1) + 1;
          int old = peak.load();
          while (now > old && !peak.compare_exchange_weak(old, now)) {
          }
          // A blocking call is the behaviour being offloaded: hold the thread.
          std::this_thread::sleep_for(2ms);
          in_flight.fetch_sub(1);
          done.fetch_add(1);
          return i;
        });
      }));
    }
    // Watch the pool size while the jobs queue.
    for (int k = 0; k < 50 && done.load() < 40; ++k) {
      unsigned t = rt.stats().blocking_threads;
      peak_threads = std::max(peak_threads.load(), t);
      weft::this_fiber::sleep_for(1ms);
    }
    int sum = 0;
    for (auto& h : hs) sum += h.join();
    CHECK(sum == 39 * 40 / 2);
  });
  CHECK(done.load() == 40);
  CHECK(peak.load() <= static_cast<int>(kMax));
  CHECK(peak.load() >= 2);  // the jobs did overlap: the pool is not serial
  CHECK(peak_threads.load() <= kMax);
}

TEST_CASE("idle blocking threads leave after blocking_keep_alive") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "blocking keep-alive");
  weft::Runtime rt(config(workers).blocking_keep_alive(50ms).max_blocking_threads(4));
  rt.start();
  REQUIRE(wait_until([&] { return rt.stats().workers_running == workers; }, 5s));
  int threads_idle = thread_count();  // workers and whatever else the runtime keeps
  // Four jobs that wait for each other force four pool threads at once; the
  // count is read while all four are still inside their jobs (once their
  // jobs return, the 50 ms keep-alive may already have run out).
  std::atomic<int> arrived{0};
  std::atomic<std::size_t> threads_seen{0};
  rt.block_on([&] {
    std::vector<weft::JoinHandle<bool>> hs;
    for (int i = 0; i < 4; ++i) {
      hs.push_back(weft::spawn([&] {
        return weft::unblock([&] {
          if (arrived.fetch_add(1) == 3) threads_seen = rt.stats().blocking_threads;
          return wait_until([&] { return arrived.load() == 4; }, 10s);
        });
      }));
    }
    for (auto& h : hs) CHECK(h.join());
  });
  CHECK(threads_seen.load() == 4);
  CHECK(wait_until([&] { return rt.stats().blocking_threads == 0; }, 5s));
  CHECK(wait_until([&] { return thread_count() == threads_idle; }, 5s));
  // The pool grows again on demand after it emptied.
  CHECK(rt.block_on([] { return weft::unblock([] { return 8; }); }) == 8);
}

TEST_CASE("a fiber cancelled during unblock waits for the job, then throws Cancelled") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "cancel during unblock");
  weft::Runtime rt(config(workers));
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> job_started{false}, job_finished{false};
  auto h = rt.spawn([&] {
    weft::unblock([&] {
      job_started = true;
      released.wait_for(10s);
      job_finished = true;
    });
    return 1;
  });
  REQUIRE(wait_until([&] { return job_started.load(); }, 10s));
  h.cancel();
  release.set_value();
  CHECK_THROWS_AS(h.join(), weft::Cancelled);
  CHECK(job_finished.load());  // the job was not abandoned midway
}
