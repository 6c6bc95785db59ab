// Spawning and joining: values, exceptions, void and move-only results, joins
// from threads and fibers, detach, and the misuse errors of the spawn API.
#include <atomic>
#include <functional>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace weft_test;

TEST_CASE("10,000 fibers spawned from a fiber return their values through join") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "10,000 fibers");
  weft::Runtime rt(config(workers));
  long long sum = rt.block_on([] {
    std::vector<weft::JoinHandle<long long>> handles;
    handles.reserve(10'000);
    for (long long i = 0; i < 10'000; ++i) {
      handles.push_back(weft::spawn([i] { return i * 2; }));
    }
    long long s = 0;
    for (auto& h : handles) s += h.join();
    return s;
  });
  CHECK(sum == 2LL * (10'000LL * 9'999 / 2));
}

TEST_CASE("10,000 fibers spawned from a plain thread are joined from it") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "10,000 fibers from a thread");
  weft::Runtime rt(config(workers));
  std::vector<weft::JoinHandle<int>> handles;
  for (int i = 0; i < 10'000; ++i) handles.push_back(rt.spawn([i] { return i % 7; }));
  long long sum = 0;
  for (auto& h : handles) sum += h.join();
  long long expect = 0;
  for (int i = 0; i < 10'000; ++i) expect += i % 7;
  CHECK(sum == expect);
}

// tree() spawns a binary tree of fibers, each child joined by its parent, and
// returns how many fibers it made.
static int tree(int depth) {
  if (depth == 0) return 1;
  auto left = weft::spawn([depth] { return tree(depth - 1); });
  auto right = weft::spawn([depth] { return tree(depth - 1); });
  return 1 + left.join() + right.join();
}

TEST_CASE("nested spawns: a tree of fibers joined by their parents") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "nested spawns");
  weft::Runtime rt(config(workers));
  CHECK(rt.block_on([] { return tree(11); }) == (1 << 12) - 1);
}

TEST_CASE("an exception thrown in a fiber comes out of join with its message") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "exceptions through join");
  weft::Runtime rt(config(workers));
  // Joined from a plain thread.
  auto h = rt.spawn([]() -> int { throw std::runtime_error("disk on fire 42"); });
  CHECK_THROWS_WITH_AS(h.join(), "disk on fire 42", std::runtime_error);
  CHECK_FALSE(h.joinable());
  // Joined from a fiber, with a type other than std::exception.
  rt.block_on([] {
    auto inner = weft::spawn([] { throw 7; });
    bool caught = false;
    try {
      inner.join();
    } catch (int v) {
      caught = (v == 7);
    }
    CHECK(caught);
  });
}

TEST_CASE("void fibers and move-only results") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "void and move-only");
  weft::Runtime rt(config(workers));
  std::atomic<int> ran{0};
  std::vector<weft::JoinHandle<void>> voids;
  for (int i = 0; i < 100; ++i) voids.push_back(rt.spawn([&ran] { ran.fetch_add(1); }));
  for (auto& h : voids) h.join();
  CHECK(ran.load() == 100);

  auto p = rt.block_on([] {
    auto h = weft::spawn([] { return std::make_unique<std::string>("moved through join"); });
    return h.join();
  });
  REQUIRE(p);
  CHECK(*p == "moved through join");
}

TEST_CASE("join from another plain thread and from another fiber") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "cross joins");
  weft::Runtime rt(config(workers));

  auto h = rt.spawn([] { return 11; });
  int got = 0;
  std::thread t([&] { got = h.join(); });
  t.join();
  CHECK(got == 11);

  // The joined fiber is spawned from the main thread, the joiner is another
  // fiber that received the handle: the two need not share a worker.
  std::atomic<bool> go{false};
  auto target = rt.spawn([&go] {
    weft_test::fiber_wait_until([&] { return go.load(); }, 10s);
    return 23;
  });
  auto joiner = rt.spawn([t = std::move(target)]() mutable { return t.join() + 1; });
  go = true;
  CHECK(joiner.join() == 24);
}

TEST_CASE("is_finished turns true when the fiber returns, not before") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "is_finished");
  weft::Runtime rt(config(workers));
  std::atomic<bool> started{false}, go{false};
  auto h = rt.spawn([&] {
    started = true;
    weft_test::fiber_wait_until([&] { return go.load(); }, 10s);
    return 5;
  });
  REQUIRE(wait_until([&] { return started.load(); }, 10s));
  CHECK(h.joinable());
  CHECK_FALSE(h.is_finished());
  go = true;
  CHECK(wait_until([&] { return h.is_finished(); }, 10s));
  CHECK(h.join() == 5);
  CHECK_FALSE(h.is_finished());  // an empty handle has nothing to report
}

TEST_CASE("detach and a dropped handle both let the fiber run to completion") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "detach");
  weft::Runtime rt(config(workers));
  std::atomic<bool> go{false};
  std::atomic<int> done{0};
  auto body = [&] {
    weft_test::fiber_wait_until([&] { return go.load(); }, 10s);
    done.fetch_add(1);
  };
  auto h = rt.spawn(body);
  h.detach();
  CHECK_FALSE(h.joinable());
  { auto dropped = rt.spawn(body); }  // the handle dies before the fiber
  rt.block_on([&] { weft::spawn(body); });  // dropped inside a fiber too
  go = true;
  CHECK(wait_until([&] { return done.load() == 3; }, 10s));
}

TEST_CASE("join on an empty handle throws std::logic_error") {
  weft::JoinHandle<int> empty;
  CHECK_FALSE(empty.joinable());
  CHECK_THROWS_AS(empty.join(), std::logic_error);

  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "double join");
  weft::Runtime rt(config(workers));
  auto h = rt.spawn([] { return 1; });
  CHECK(h.join() == 1);
  CHECK_THROWS_AS(h.join(), std::logic_error);  // joined handles are empty
  auto d = rt.spawn([] { return 2; });
  d.detach();
  CHECK_THROWS_AS(d.join(), std::logic_error);
}

TEST_CASE("weft::spawn and spawn_local outside a fiber throw std::logic_error") {
  CHECK_THROWS_AS(weft::spawn([] {}), std::logic_error);
  CHECK_THROWS_AS(weft::spawn(weft::SpawnOptions{"x", 0}, [] {}), std::logic_error);
  CHECK_THROWS_AS(weft::spawn_local([] {}), std::logic_error);
  // A thread of the blocking pool is not a fiber either.
  weft::Runtime rt(config(1));
  bool threw = rt.block_on([] {
    return weft::unblock([] {
      try {
        weft::spawn([] {});
      } catch (const std::logic_error&) {
        return true;
      }
      return false;
    });
  });
  CHECK(threw);
}

TEST_CASE("block_on from inside a fiber throws std::logic_error") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "block_on inside a fiber");
  weft::Runtime rt(config(workers));
  weft::Runtime other(config(1));
  rt.block_on([&] {
    CHECK_THROWS_AS(rt.block_on([] { return 1; }), std::logic_error);
    CHECK_THROWS_AS(other.block_on([] { return 2; }), std::logic_error);
  });
}

TEST_CASE("a spawn that reuses a finished fiber starts it clean") {
  // A finished fiber waits for reuse by the next spawn on its worker (always
  // so with one worker). Its next function must not inherit the last one's
  // cancellation or name, and it counts as neither live nor holding a stack.
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "reused fibers");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    for (int round = 0; round < 100; ++round) {
      auto first = weft::spawn(weft::SpawnOptions{"first", 0}, [] {
        try {
          weft::this_fiber::sleep_for(60s);
          return false;
        } catch (const weft::Cancelled&) {
          return weft::this_fiber::cancelled();
        }
      });
      first.cancel();
      REQUIRE(first.join());
      auto second = weft::spawn(weft::SpawnOptions{"second", 0}, [] {
        weft::this_fiber::sleep_for(1ms);  // throws Cancelled if it inherited the flag
        return !weft::this_fiber::cancelled() && weft::this_fiber::name() == "second";
      });
      REQUIRE(second.join());
    }
  });
  CHECK(rt.stats().live_fibers == 0);
  // The root fiber wakes block_on before it is put aside for reuse; until
  // then its stack counts as used.
  CHECK(wait_until([&] { return rt.stats().stacks_in_use == 0; }, 2s));
}
