// Runtimes start, stop and start again; several live in one process at once;
// weft::run hands back its function's value or exception.
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace weft_test;

namespace {

// some_work() spawns, sleeps and joins a little, and returns a checksum.
int some_work() {
  std::vector<weft::JoinHandle<int>> hs;
  for (int i = 0; i < 100; ++i) {
    hs.push_back(weft::spawn([i] {
      if (i % 10 == 0) weft::this_fiber::sleep_for(1ms);
      weft::this_fiber::yield();
      return i;
    }));
  }
  int sum = 0;
  for (auto& h : hs) sum += h.join();
  return sum;
}

constexpr int kWorkSum = 99 * 100 / 2;

}  // namespace

TEST_CASE("a runtime restarted several times runs work each time") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "restart loop");
  weft::Runtime rt(config(workers));
  CHECK_FALSE(rt.running());
  for (int cycle = 0; cycle < 5; ++cycle) {
    CAPTURE(cycle);
    rt.start();
    CHECK(rt.running());
    rt.start();  // a no-op when running
    CHECK(rt.block_on(some_work) == kWorkSum);
    CHECK(rt.worker_threads() == workers);
    rt.shutdown();
    CHECK_FALSE(rt.running());
    CHECK(rt.stats().workers_running == 0);
    rt.shutdown();  // a no-op when stopped
  }
  // block_on and spawn start a stopped runtime by themselves.
  CHECK(rt.block_on(some_work) == kWorkSum);
  CHECK(rt.running());
  rt.shutdown();
  auto h = rt.spawn([] { return 3; });
  CHECK(rt.running());
  CHECK(h.join() == 3);
}

TEST_CASE("a runtime destroyed while running and a new one made in its place") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "create and destroy");
  for (int cycle = 0; cycle < 10; ++cycle) {
    CAPTURE(cycle);
    weft::Runtime rt(config(workers));
    CHECK(rt.block_on(some_work) == kWorkSum);
  }
}

TEST_CASE("several runtimes alive at once in one process") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "several runtimes");
  weft::Runtime a(config(workers).thread_name_prefix("rt-a"));
  weft::Runtime b(config(workers).thread_name_prefix("rt-b"));
  weft::Runtime c(config(1));
  // Driven at the same time from three threads.
  std::atomic<int> ok{0};
  std::vector<std::thread> drivers;
  for (weft::Runtime* rt : {&a, &b, &c}) {
    drivers.emplace_back([rt, &ok] {
      for (int i = 0; i < 5; ++i) {
        if (rt->block_on(some_work) == kWorkSum) ok.fetch_add(1);
      }
    });
  }
  for (auto& t : drivers) t.join();
  CHECK(ok.load() == 15);

  // A fiber of one runtime spawns into and joins a fiber of another: the
  // wake crosses from b's worker to a's.
  int got = a.block_on([&] {
    auto in_b = b.spawn([] {
      weft::this_fiber::sleep_for(1ms);
      return weft::this_fiber::worker_index() >= 0 ? 17 : -1;
    });
    return in_b.join();
  });
  CHECK(got == 17);

  // Shutting one down leaves the others running.
  b.shutdown();
  CHECK(a.running());
  CHECK(c.block_on([] { return 1; }) == 1);
  CHECK(a.block_on(some_work) == kWorkSum);
}

TEST_CASE("weft::run returns the value of its function") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "run values");
  CHECK(weft::run(config(workers), some_work) == kWorkSum);
  CHECK(weft::run(config(workers), [] { return std::string("done"); }) == "done");
  auto p = weft::run(config(workers), [] { return std::make_unique<int>(4); });
  REQUIRE(p);
  CHECK(*p == 4);
  bool ran = false;
  weft::run(config(workers), [&ran] { ran = weft::this_fiber::in_fiber(); });
  CHECK(ran);
}

TEST_CASE("weft::run with the default Config") {
  Watchdog dog(30s, "run default");
  CHECK(weft::run([] { return weft::this_fiber::in_fiber(); }));
}

namespace {
struct CustomError : std::runtime_error {
  explicit CustomError(int c) : std::runtime_error("custom " + std::to_string(c)), code(c) {}
  int code;
};
}  // namespace

TEST_CASE("weft::run rethrows the exception of its function") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "run exceptions");
  CHECK_THROWS_WITH_AS(weft::run(config(workers), []() -> int { throw std::runtime_error("bad"); }),
                       "bad", std::runtime_error);
  // The dynamic type survives, not just the message.
  try {
    weft::run(config(workers), [] { throw CustomError(77); });
    FAIL("no exception");
  } catch (const CustomError& e) {
    CHECK(e.code == 77);
  }
  // An exception thrown by a joined child passes through the run function.
  CHECK_THROWS_WITH_AS(weft::run(config(workers),
                                 [] {
                                   return weft::spawn([]() -> int {
                                            throw std::out_of_range("child");
                                          }).join();
                                 }),
                       "child", std::out_of_range);
}
