// weft::TaskGroup: children borrowing the parent's stack, the first failure
// cancelling the siblings and coming out of join(), the parent's own
// cancellation and deadline reaching the children (and the parent waiting for
// them anyway), the destructor's semantics, plain threads, many children.
#include <functional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "sync_support.hpp"

using namespace sync_test;

namespace {
// CountOnExit bumps a counter when the scope that owns it unwinds or ends.
struct CountOnExit {
  std::atomic<int>& n;
  ~CountOnExit() { ++n; }
};
}  // namespace

TEST_CASE("TaskGroup: children borrow the parent's stack") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "TaskGroup borrowing");
  weft::run(config(workers), [&] {
    std::vector<long> squares(500, 0);
    weft::Mutex mu;
    long sum = 0;
    {
      weft::TaskGroup g;
      for (int i = 0; i < 500; ++i) {
        g.spawn([&, i] {
          if (i % 3 == 0) weft::this_fiber::yield();
          squares[i] = long{i} * i;
          std::lock_guard<weft::Mutex> lk(mu);
          sum += i;
        });
      }
      g.join();
      CHECK(g.running() == 0);
    }
    for (int i = 0; i < 500; ++i) CHECK(squares[i] == long{i} * i);
    CHECK(sum == 499L * 500 / 2);
    // The destructor alone joins too.
    std::atomic<int> done{0};
    {
      weft::TaskGroup g;
      for (int i = 0; i < 100; ++i)
        g.spawn([&] {
          weft::this_fiber::sleep_for(1ms);
          ++done;
        });
    }
    CHECK(done.load() == 100);
  });
}

TEST_CASE("TaskGroup: the first failure cancels the siblings and join() rethrows it") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "TaskGroup failure");
  weft::run(config(workers), [&] {
    std::atomic<int> parked{0}, cancelled{0}, unwound{0};
    weft::Event never;
    auto t0 = Clock::now();
    weft::TaskGroup g;
    for (int i = 0; i < 20; ++i) {
      g.spawn([&, i] {
        CountOnExit exit{unwound};
        ++parked;
        try {
          if (i % 2) {
            weft::this_fiber::sleep_for(1h);
          } else {
            never.wait();
          }
        } catch (const weft::Cancelled&) {
          ++cancelled;
          throw;
        }
      });
    }
    // A sibling parked in a join of its own is cancelled as well.
    g.spawn([&] {
      CountOnExit exit{unwound};
      auto inner = weft::spawn([] { weft::this_fiber::sleep_for(1h); });
      ++parked;
      try {
        inner.join();
      } catch (const weft::Cancelled&) {
        ++cancelled;
        inner.cancel();
        try {
          inner.join();
        } catch (const weft::Cancelled&) {
        }
        throw;
      }
    });
    g.spawn([&] {
      REQUIRE(fiber_wait_until([&] { return parked.load() == 21; }, 10s));
      throw std::runtime_error("boom");
    });
    try {
      g.join();
      FAIL("join() did not rethrow");
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()) == "boom");
    }
    CHECK(cancelled.load() == 21);
    CHECK(unwound.load() == 21);
    CHECK(ms_since(t0) < 5'000);
  });
}

TEST_CASE("TaskGroup: a failure raised while being cancelled is not the first one") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    weft::Event never;
    std::atomic<bool> parked{false};
    weft::TaskGroup g;
    g.spawn([&] {
      parked = true;
      try {
        never.wait();
      } catch (const weft::Cancelled&) {
        throw std::logic_error("second");
      }
    });
    g.spawn([&] {
      REQUIRE(fiber_wait_until([&] { return parked.load(); }, 10s));
      throw std::runtime_error("first");
    });
    CHECK_THROWS_WITH_AS(g.join(), "first", std::runtime_error);
    // Reusable after join(): no leftover error or cancellation.
    std::atomic<bool> ran{false};
    g.spawn([&] {
      weft::this_fiber::yield();
      ran = true;
    });
    g.join();
    CHECK(ran.load());
  });
}

TEST_CASE("TaskGroup: cancel() stops the children; Cancelled alone is no failure") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    std::atomic<int> parked{0};
    weft::TaskGroup g;
    for (int i = 0; i < 10; ++i)
      g.spawn([&] {
        ++parked;
        weft::this_fiber::sleep_for(1h);
      });
    REQUIRE(fiber_wait_until([&] { return parked.load() == 10; }, 10s));
    g.cancel();
    g.join();  // does not throw
    CHECK(g.running() == 0);
  });
}

TEST_CASE("TaskGroup: a cancelled parent cancels the children and still waits for them") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "TaskGroup parent cancelled");
  weft::run(config(workers), [&] {
    std::atomic<int> parked{0}, unwound{0};
    std::atomic<int> unwound_when_parent_left{-1};
    auto parent = weft::spawn([&] {
      int on_parent_stack = 42;
      try {
        weft::TaskGroup g;
        for (int i = 0; i < 10; ++i)
          g.spawn([&] {
            ++parked;
            try {
              weft::this_fiber::sleep_for(1h);
            } catch (const weft::Cancelled&) {
              // Still allowed to touch the parent's stack while unwinding.
              if (on_parent_stack == 42) ++unwound;
              throw;
            }
          });
        g.join();
      } catch (const weft::Cancelled&) {
        unwound_when_parent_left = unwound.load();
        throw;
      }
    });
    REQUIRE(fiber_wait_until([&] { return parked.load() == 10; }, 10s));
    parent.cancel();
    CHECK(throws_cancelled([&] { parent.join(); }));
    CHECK(unwound_when_parent_left.load() == 10);
  });
}

TEST_CASE("TaskGroup: children inherit the deadline scope; the timeout comes out of join()") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    auto t0 = Clock::now();
    try {
      weft::with_timeout(30ms, [&] {
        weft::TaskGroup g;
        for (int i = 0; i < 5; ++i) g.spawn([] { weft::this_fiber::sleep_for(1h); });
        g.join();
      });
      FAIL("join() returned");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::timed_out);
    }
    CHECK(ms_since(t0) >= 30);
    CHECK(ms_since(t0) < 5'000);
  });
}

TEST_CASE("TaskGroup: leaving the scope by an exception cancels the children") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    std::atomic<int> parked{0}, cancelled{0};
    try {
      weft::TaskGroup g;
      for (int i = 0; i < 5; ++i)
        g.spawn([&] {
          ++parked;
          try {
            weft::this_fiber::sleep_for(1h);
          } catch (const weft::Cancelled&) {
            ++cancelled;
            throw;
          }
        });
      REQUIRE(fiber_wait_until([&] { return parked.load() == 5; }, 10s));
      throw std::runtime_error("scope failed");
    } catch (const std::runtime_error&) {
    }
    CHECK(cancelled.load() == 5);
  });
}

TEST_CASE("TaskGroup: the destructor does not throw a child's failure") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    std::atomic<bool> sibling_cancelled{false};
    {
      weft::TaskGroup g;
      g.spawn([&] {
        try {
          weft::this_fiber::sleep_for(1h);
        } catch (const weft::Cancelled&) {
          sibling_cancelled = true;
          throw;
        }
      });
      g.spawn([] { throw std::runtime_error("logged, not thrown"); });
    }
    CHECK(sibling_cancelled.load());
  });
}

TEST_CASE("TaskGroup: a plain thread runs a group on a runtime") {
  SYNC_WORKER_SUBCASES(workers);
  weft::Runtime rt(config(workers));
  std::vector<int> out(100, 0);
  {
    weft::TaskGroup g(rt);
    for (int i = 0; i < 100; ++i) g.spawn([&, i] { out[i] = i + 1; });
    g.join();
  }
  for (int i = 0; i < 100; ++i) CHECK(out[i] == i + 1);
  weft::TaskGroup g(rt);
  g.spawn([] { throw std::runtime_error("from a child"); });
  CHECK_THROWS_AS(g.join(), std::runtime_error);
  // Every child fiber ends soon after the group is done with it: none leaks.
  CHECK(thread_wait_until([&] { return rt.stats().live_fibers == 0; }, 10s));
  rt.shutdown();
}

TEST_CASE("TaskGroup: children spawn into their own group") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "TaskGroup spawning children");
  weft::run(config(workers), [&] {
    std::atomic<int> nodes{0};
    weft::TaskGroup g;
    // A binary tree of depth 10 (2047 fibers), each node spawning its two
    // children into the same group; join() waits for all of them.
    std::function<void(int)> grow = [&](int depth) {
      ++nodes;
      if (depth == 0) return;
      g.spawn([&, depth] { grow(depth - 1); });
      g.spawn([&, depth] { grow(depth - 1); });
    };
    g.spawn([&] { grow(10); });
    g.join();
    CHECK(nodes.load() == 2047);
  });
}

TEST_CASE("TaskGroup: thousands of children, nested groups") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "TaskGroup thousands");
  weft::run(config(workers), [&] {
    std::atomic<long> leaves{0};
    weft::TaskGroup outer;
    for (int i = 0; i < 50; ++i) {
      outer.spawn([&] {
        weft::TaskGroup inner;
        for (int j = 0; j < 100; ++j)
          inner.spawn([&, j] {
            if (j % 4 == 0) weft::this_fiber::yield();
            ++leaves;
          });
        inner.join();
      });
    }
    outer.join();
    CHECK(leaves.load() == 5000);
  });
}
