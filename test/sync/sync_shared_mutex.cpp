// weft::SharedMutex: readers share, writers exclude, phase-fairness (neither
// side starves), waiters that give up (including a writer that was holding
// readers back), deadline scopes, plain threads.
#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "sync_support.hpp"

using namespace sync_test;

namespace {
void raise_max(std::atomic<long>& m, long v) {
  long cur = m.load();
  while (v > cur && !m.compare_exchange_weak(cur, v)) {
  }
}
}  // namespace

TEST_CASE("SharedMutex: readers share, a writer excludes") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    weft::SharedMutex mu;
    CHECK(mu.try_lock_shared());
    CHECK(mu.try_lock_shared());
    CHECK_FALSE(mu.try_lock());
    CHECK_FALSE(mu.try_lock_for(1ms));
    mu.unlock_shared();
    mu.unlock_shared();
    CHECK(mu.try_lock());
    CHECK_FALSE(mu.try_lock_shared());
    CHECK_FALSE(mu.try_lock_shared_for(1ms));
    mu.unlock();
    {
      std::shared_lock<weft::SharedMutex> r1(mu), r2(mu);
      std::unique_lock<weft::SharedMutex> w(mu, std::defer_lock);
      CHECK_FALSE(w.try_lock_for(1ms));
    }
    {
      std::unique_lock<weft::SharedMutex> w(mu);
      std::error_code ec;
      CHECK_FALSE(mu.lock_shared(ec, weft::deadline_in(1ms)));
      CHECK(ec == std::errc::timed_out);
    }
    CHECK(mu.try_lock());
    mu.unlock();
  });
}

TEST_CASE("SharedMutex: thousands of readers and writers keep an invariant") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "SharedMutex contention");
  constexpr int kFibers = 1000, kIters = 4;
  weft::SharedMutex mu;
  long a = 0, b = 0;  // guarded by mu; writers keep a == b
  std::atomic<long> bad{0}, readers_in{0}, max_readers{0}, writers_in{0}, max_writers{0};
  weft::run(config(workers), [&] {
    std::vector<weft::JoinHandle<void>> hs;
    for (int f = 0; f < kFibers; ++f) {
      hs.push_back(weft::spawn([&, f] {
        for (int i = 0; i < kIters; ++i) {
          if (f % 4 == 0) {
            std::unique_lock<weft::SharedMutex> w(mu);
            raise_max(max_writers, ++writers_in);
            if (readers_in.load() != 0) ++bad;
            ++a;
            if (i % 3 == 0) weft::this_fiber::yield();
            ++b;
            --writers_in;
          } else {
            std::shared_lock<weft::SharedMutex> r(mu);
            raise_max(max_readers, ++readers_in);
            if (writers_in.load() != 0) ++bad;
            if (a != b) ++bad;
            if (i % 2 == 0) weft::this_fiber::yield();
            if (a != b) ++bad;
            --readers_in;
          }
        }
      }));
    }
    for (auto& h : hs) h.join();
    CHECK(mu.try_lock());
    mu.unlock();
  });
  CHECK(bad.load() == 0);
  CHECK(max_writers.load() == 1);
  CHECK(max_readers.load() > 1);  // readers did overlap
  CHECK(a == long{kFibers / 4} * kIters);
  CHECK(a == b);
}

TEST_CASE("SharedMutex: a writer is not starved by a stream of readers") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "SharedMutex writer starvation");
  constexpr int kReaders = 16;
  weft::SharedMutex mu;
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0};
  weft::run(config(workers), [&] {
    std::vector<weft::JoinHandle<void>> hs;
    for (int r = 0; r < kReaders; ++r) {
      hs.push_back(weft::spawn([&] {
        while (!stop.load()) {
          std::shared_lock<weft::SharedMutex> l(mu);
          ++reads;
          weft::this_fiber::yield();  // overlapping read phases, never empty
        }
      }));
    }
    REQUIRE(fiber_wait_until([&] { return reads.load() > 100; }, 10s));
    for (int round = 0; round < 50; ++round) {
      long before = reads.load();
      mu.lock();
      long during = reads.load() - before;
      mu.unlock();
      // Phase-fair: the writer waits for the readers inside when it came,
      // no newcomer gets past it.
      CHECK(during <= 2 * kReaders);
      weft::this_fiber::yield();
    }
    stop = true;
    for (auto& h : hs) h.join();
  });
}

TEST_CASE("SharedMutex: a reader is not starved by a stream of writers") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "SharedMutex reader starvation");
  constexpr int kWriters = 8;
  weft::SharedMutex mu;
  std::atomic<bool> stop{false};
  std::atomic<long> writes{0};
  weft::run(config(workers), [&] {
    std::vector<weft::JoinHandle<void>> hs;
    for (int w = 0; w < kWriters; ++w) {
      hs.push_back(weft::spawn([&] {
        while (!stop.load()) {
          std::unique_lock<weft::SharedMutex> l(mu);
          ++writes;
          weft::this_fiber::yield();
        }
      }));
    }
    REQUIRE(fiber_wait_until([&] { return writes.load() > 50; }, 10s));
    for (int round = 0; round < 50; ++round) {
      long before = writes.load();
      mu.lock_shared();
      long during = writes.load() - before;
      mu.unlock_shared();
      // The writer inside finishes, then the queued readers go first.
      CHECK(during <= 3);
      weft::this_fiber::yield();
    }
    stop = true;
    for (auto& h : hs) h.join();
  });
}

TEST_CASE("SharedMutex: a writer that gives up lets the readers it held back in") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "SharedMutex writer give-up");
  weft::run(config(workers), [&] {
    weft::SharedMutex mu;
    mu.lock_shared();  // a reader inside for the whole case
    std::atomic<int> stage{0};
    auto writer = weft::spawn([&] {
      stage = 1;
      CHECK_FALSE(mu.try_lock_for(50ms));
    });
    REQUIRE(fiber_wait_until([&] { return stage.load() == 1; }, 10s));
    // Wait until the writer is queued: newcomers can no longer read.
    REQUIRE(fiber_wait_until(
        [&] {
          if (!mu.try_lock_shared()) return true;
          mu.unlock_shared();
          return false;
        },
        10s));
    auto reader = weft::spawn([&] {
      std::shared_lock<weft::SharedMutex> l(mu);  // queues behind the writer
      stage = 2;
    });
    writer.join();
    reader.join();  // admitted although the first reader still holds it
    CHECK(stage.load() == 2);
    mu.unlock_shared();
    CHECK(mu.try_lock());
    mu.unlock();
  });
}

TEST_CASE("SharedMutex: random give-ups of readers and writers under contention lose nothing") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "SharedMutex give-ups");
  constexpr int kFibers = 300, kIters = 20;
  weft::SharedMutex mu;
  long a = 0, b = 0;  // guarded by mu
  std::atomic<long> bad{0}, writes{0}, readers_in{0}, writers_in{0};
  weft::run(config(workers), [&] {
    std::vector<weft::JoinHandle<void>> hs;
    for (int f = 0; f < kFibers; ++f) {
      hs.push_back(weft::spawn([&, f] {
        for (int i = 0; i < kIters; ++i) {
          const bool writer = (f + i) % 3 == 0;
          const bool patient = (f * 7 + i) % 2 == 0;
          const auto wait = std::chrono::microseconds((f * 53 + i * 17) % 400);
          if (writer) {
            if (patient) {
              mu.lock();
            } else if (!mu.try_lock_for(wait)) {
              continue;
            }
            if (++writers_in != 1 || readers_in.load() != 0) ++bad;
            ++a;
            if (i % 4 == 0) weft::this_fiber::yield();
            ++b;
            ++writes;
            --writers_in;
            mu.unlock();
          } else {
            if (patient) {
              mu.lock_shared();
            } else if (!mu.try_lock_shared_for(wait)) {
              continue;
            }
            ++readers_in;
            if (writers_in.load() != 0 || a != b) ++bad;
            if (i % 3 == 0) weft::this_fiber::yield();
            --readers_in;
            mu.unlock_shared();
          }
        }
      }));
    }
    for (auto& h : hs) h.join();
    CHECK(mu.try_lock());
    mu.unlock();
  });
  CHECK(bad.load() == 0);
  CHECK(a == writes.load());
  CHECK(a == b);
}

TEST_CASE("SharedMutex: cancelled readers and writers leave it intact") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "SharedMutex cancellation");
  weft::run(config(workers), [&] {
    weft::SharedMutex mu;
    mu.lock();
    std::atomic<int> waiting{0};
    auto r = weft::spawn([&] {
      ++waiting;
      std::shared_lock<weft::SharedMutex> l(mu);
      FAIL("cancelled reader got in");
    });
    auto w = weft::spawn([&] {
      ++waiting;
      std::unique_lock<weft::SharedMutex> l(mu);
      FAIL("cancelled writer got in");
    });
    REQUIRE(fiber_wait_until([&] { return waiting.load() == 2; }, 10s));
    for (int i = 0; i < 10; ++i) weft::this_fiber::yield();
    r.cancel();
    w.cancel();
    CHECK(throws_cancelled([&] { r.join(); }));
    CHECK(throws_cancelled([&] { w.join(); }));
    mu.unlock();
    CHECK(mu.try_lock_shared());
    CHECK(mu.try_lock_shared());
    mu.unlock_shared();
    mu.unlock_shared();
    CHECK(mu.try_lock());
    mu.unlock();
  });
}

TEST_CASE("SharedMutex: nested deadline scopes cut lock waits short") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    weft::SharedMutex mu;
    mu.lock();
    auto t0 = Clock::now();
    weft::spawn([&] {
      weft::with_timeout(20ms, [&] {
        weft::with_timeout(1h, [&] {
          try {
            mu.lock_shared();
            FAIL("read-locked a write-locked mutex");
          } catch (const std::system_error& e) {
            CHECK(e.code() == std::errc::timed_out);
          }
          CHECK_FALSE(mu.try_lock_for(1h));
        });
      });
    }).join();
    CHECK(ms_since(t0) >= 20);
    mu.unlock();
    CHECK(mu.try_lock());
    mu.unlock();
  });
}

TEST_CASE("SharedMutex: plain threads and fibers share it") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "SharedMutex threads and fibers");
  weft::SharedMutex mu;
  long a = 0, b = 0;
  std::atomic<long> bad{0};
  weft::Runtime rt(config(workers));
  std::vector<weft::JoinHandle<void>> hs;
  for (int f = 0; f < 20; ++f) {
    hs.push_back(rt.spawn([&, f] {
      for (int i = 0; i < 50; ++i) {
        if (f % 5 == 0) {
          std::unique_lock<weft::SharedMutex> l(mu);
          ++a;
          weft::this_fiber::yield();
          ++b;
        } else {
          std::shared_lock<weft::SharedMutex> l(mu);
          if (a != b) ++bad;
        }
      }
    }));
  }
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        if (t == 0) {
          std::unique_lock<weft::SharedMutex> l(mu);
          ++a;
          ++b;
        } else {
          std::shared_lock<weft::SharedMutex> l(mu);
          if (a != b) ++bad;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  for (auto& h : hs) h.join();
  rt.shutdown();
  CHECK(bad.load() == 0);
  CHECK(a == 4 * 50 + 300);
  CHECK(a == b);
}
