// Shutdown and cancellation: fibers alive when run()'s function returns are
// cancelled (their waiting call throws weft::Cancelled and their stacks
// unwind), JoinHandle::cancel() does the same to one fiber, and spawning into
// a runtime that is going away fails cleanly.
#include <atomic>
#include <thread>
#include <utility>

#include "support.hpp"

using namespace weft_test;

namespace {

// SetOnExit sets a flag when the scope that owns it unwinds.
struct SetOnExit {
  std::atomic<bool>& flag;
  ~SetOnExit() { flag = true; }
};

// sleep_an_hour() sleeps in a fiber and records whether the sleep threw
// weft::Cancelled; the exception goes on, as fibers are told to let it.
void sleep_an_hour(std::atomic<bool>& started, std::atomic<bool>& cancelled) {
  started = true;
  try {
    weft::this_fiber::sleep_for(std::chrono::hours(1));
  } catch (const weft::Cancelled&) {
    cancelled = true;
    throw;
  }
}

}  // namespace

TEST_CASE("a detached fiber sleeping for an hour is cancelled when run returns") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "run with a sleeping fiber");
  std::atomic<bool> started{false}, cancelled{false}, unwound{false};
  auto t0 = Clock::now();
  weft::run(config(workers), [&] {
    weft::spawn([&] {
      SetOnExit guard{unwound};
      sleep_an_hour(started, cancelled);
    }).detach();
    REQUIRE(fiber_wait_until([&] { return started.load(); }, 10s));
  });
  CAPTURE(ms_since(t0));
  CHECK(ms_since(t0) < 3'000);  // promptly: within shutdown_grace, loosely (a busy machine)
  CHECK(cancelled.load());
  CHECK(unwound.load());
}

TEST_CASE("a fiber joining a sleeping fiber is cancelled too") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "run with a joining fiber");
  std::atomic<bool> started{false}, sleeper_cancelled{false}, joiner_cancelled{false},
      joiner_waiting{false};
  auto t0 = Clock::now();
  weft::run(config(workers), [&] {
    auto sleeper = weft::spawn([&] { sleep_an_hour(started, sleeper_cancelled); });
    weft::spawn([&, h = std::move(sleeper)]() mutable {
      joiner_waiting = true;
      try {
        h.join();
      } catch (const weft::Cancelled&) {
        // Either this join was cancelled, or the sleeper's Cancelled came
        // through it; both leave this fiber cancelled.
        joiner_cancelled = weft::this_fiber::cancelled();
        throw;
      }
    });  // dropped handle: detached
    REQUIRE(fiber_wait_until([&] { return started.load() && joiner_waiting.load(); }, 10s));
  });
  CHECK(ms_since(t0) < 3'000);
  CHECK(sleeper_cancelled.load());
  CHECK(joiner_cancelled.load());
}

TEST_CASE("a plain thread joining a fiber sees Cancelled when shutdown cancels it") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "thread join across shutdown");
  weft::Runtime rt(config(workers));
  std::atomic<bool> started{false}, cancelled{false}, join_threw{false};
  auto h = rt.spawn([&] { sleep_an_hour(started, cancelled); });
  REQUIRE(wait_until([&] { return started.load(); }, 10s));
  std::thread joiner([&] {
    try {
      h.join();
    } catch (const weft::Cancelled&) {
      join_threw = true;
    }
  });
  rt.shutdown();
  joiner.join();
  CHECK(cancelled.load());
  CHECK(join_threw.load());
}

TEST_CASE("JoinHandle::cancel makes a sleeping fiber's join rethrow Cancelled") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "JoinHandle::cancel");
  weft::Runtime rt(config(workers));

  // Cancelled and joined from a plain thread.
  std::atomic<bool> started{false}, cancelled{false};
  auto h = rt.spawn([&] { sleep_an_hour(started, cancelled); });
  REQUIRE(wait_until([&] { return started.load(); }, 10s));
  h.cancel();
  CHECK_THROWS_AS(h.join(), weft::Cancelled);
  CHECK(cancelled.load());

  // Cancelled and joined from a fiber.
  rt.block_on([] {
    std::atomic<bool> s{false}, c{false};
    auto inner = weft::spawn([&] { sleep_an_hour(s, c); });
    REQUIRE(fiber_wait_until([&] { return s.load(); }, 10s));
    inner.cancel();
    CHECK_THROWS_AS(inner.join(), weft::Cancelled);
    CHECK(c.load());
    CHECK_FALSE(weft::this_fiber::cancelled());  // the canceller is not cancelled
  });

  // A fiber that catches Cancelled and returns a value: join returns it.
  auto catcher = rt.spawn([] {
    try {
      weft::this_fiber::sleep_for(std::chrono::hours(1));
    } catch (const weft::Cancelled&) {
      return weft::this_fiber::cancelled() ? 1 : 2;
    }
    return 0;
  });
  catcher.cancel();  // before or during its sleep: either way the sleep throws
  CHECK(catcher.join() == 1);

  // Cancelling a finished fiber changes nothing.
  auto done = rt.spawn([] { return 9; });
  REQUIRE(wait_until([&] { return done.is_finished(); }, 10s));
  done.cancel();
  CHECK(done.join() == 9);
}

TEST_CASE("cancel takes effect at the next waiting call of a busy fiber") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "cancel a busy fiber");
  weft::Runtime rt(config(workers));
  std::atomic<bool> spinning{false}, go{false}, saw_flag{false}, reached_yield{false};
  auto h = rt.spawn([&] {
    spinning = true;
    while (!go.load()) {
    }  // no waiting call: nothing can interrupt this
    saw_flag = weft::this_fiber::cancelled();
    reached_yield = true;
    weft::this_fiber::yield();  // throws Cancelled
    return 1;
  });
  REQUIRE(wait_until([&] { return spinning.load(); }, 10s));
  h.cancel();
  go = true;
  CHECK_THROWS_AS(h.join(), weft::Cancelled);
  CHECK(reached_yield.load());
  CHECK(saw_flag.load());
}

TEST_CASE("shutdown waits for a cancelled fiber that unwinds slowly") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "slow unwind");
  weft::Runtime rt(config(workers));
  std::atomic<bool> started{false}, finished{false};
  rt.spawn([&] {
    started = true;
    try {
      weft::this_fiber::sleep_for(std::chrono::hours(1));
    } catch (const weft::Cancelled&) {
      // Clean-up that takes a while and does not wait: shutdown must not
      // return (and free the stack) under it.
      auto until = Clock::now() + 100ms;
      while (Clock::now() < until) {
      }
      finished = true;
    }
  });
  REQUIRE(wait_until([&] { return started.load(); }, 10s));
  rt.shutdown();
  CHECK(finished.load());
  CHECK(rt.stats().live_fibers == 0);
}

TEST_CASE("Runtime::spawn into a stopped runtime starts it again") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "spawn after shutdown");
  weft::Runtime rt(config(workers));
  rt.start();
  rt.shutdown();
  REQUIRE_FALSE(rt.running());
  auto h = rt.spawn([] { return weft::this_fiber::in_fiber(); });
  CHECK(rt.running());
  CHECK(h.join());
}

TEST_CASE("weft::spawn from a fiber during shutdown throws RuntimeStopped or is cancelled") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "spawn during shutdown");
  std::atomic<bool> started{false}, stopped_thrown{false}, spawned{false}, child_cancelled{false},
      child_started{false};
  auto t0 = Clock::now();
  weft::run(config(workers), [&] {
    weft::spawn([&] {
      started = true;
      try {
        weft::this_fiber::sleep_for(std::chrono::hours(1));
      } catch (const weft::Cancelled&) {
        // The runtime is shutting down: a new fiber must either be refused
        // or be cancelled along with the rest.
        try {
          weft::spawn([&] { sleep_an_hour(child_started, child_cancelled); });
          spawned = true;
        } catch (const weft::RuntimeStopped&) {
          stopped_thrown = true;
        }
        throw;
      }
    });
    REQUIRE(fiber_wait_until([&] { return started.load(); }, 10s));
  });
  CHECK(ms_since(t0) < 3'000);
  CHECK(stopped_thrown.load() != spawned.load());  // exactly one outcome
  if (spawned.load()) {
    // Had it started, its sleep must have been cancelled; never started is
    // fine too (its stack is gone, see rt_teardown for the counters).
    CHECK(child_started.load() == child_cancelled.load());
  }
}

TEST_CASE("Runtime::shutdown from one of its own fibers throws std::logic_error") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "shutdown from inside");
  weft::Runtime rt(config(workers));
  rt.block_on([&] { CHECK_THROWS_AS(rt.shutdown(), std::logic_error); });
  CHECK(rt.running());
  CHECK(rt.block_on([] { return 1; }) == 1);
}

TEST_CASE("a join cancelled while it waits leaves the handle joinable") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "cancelled join");
  weft::Runtime rt(config(workers));
  std::atomic<bool> started{false}, cancelled{false}, joining{false};
  auto target = rt.spawn([&] { sleep_an_hour(started, cancelled); });
  REQUIRE(wait_until([&] { return started.load(); }, 10s));
  auto joiner = rt.spawn([&, h = std::move(target)]() mutable {
    joining = true;
    try {
      h.join();
    } catch (const weft::Cancelled&) {
    }
    return std::move(h);  // still joinable: the target is not finished
  });
  REQUIRE(wait_until([&] { return joining.load(); }, 10s));
  joiner.cancel();
  weft::JoinHandle<void> back = joiner.join();
  REQUIRE(back.joinable());
  CHECK_FALSE(back.is_finished());
  CHECK_FALSE(cancelled.load());  // cancelling the joiner left the target alone
  back.cancel();
  CHECK_THROWS_AS(back.join(), weft::Cancelled);
  CHECK(cancelled.load());
}
