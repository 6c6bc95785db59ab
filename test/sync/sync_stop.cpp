// std::stop_token interop: a std::stop_source cancels fibers through
// weft::cancel_on, before or while they wait, and only while the guard lives.
#include <stop_token>
#include <thread>

#include "sync_support.hpp"

using namespace sync_test;

TEST_CASE("cancel_on: request_stop cancels a spawned fiber parked in a wait") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "cancel_on");
  weft::run(config(workers), [&] {
    std::stop_source stop;
    std::atomic<bool> parked{false};
    weft::Event never;
    auto h = weft::spawn(weft::cancel_on(stop.get_token(), [&] {
      parked = true;
      never.wait();
    }));
    REQUIRE(fiber_wait_until([&] { return parked.load(); }, 10s));
    stop.request_stop();
    CHECK(throws_cancelled([&] { h.join(); }));
  });
}

TEST_CASE("cancel_on: a stop requested before, from a plain thread, and a callable taking the token") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "cancel_on variants");
  weft::Runtime rt(config(workers));
  {
    std::stop_source stop;
    stop.request_stop();
    auto h = rt.spawn(weft::cancel_on(stop.get_token(), [] { weft::this_fiber::sleep_for(1h); }));
    CHECK(throws_cancelled([&] { h.join(); }));
  }
  {
    std::stop_source stop;
    std::atomic<bool> saw_token{false}, parked{false};
    auto h = rt.spawn(weft::cancel_on(stop.get_token(), [&](std::stop_token tok) {
      saw_token = tok.stop_possible();
      parked = true;
      weft::this_fiber::sleep_for(1h);
    }));
    REQUIRE(thread_wait_until([&] { return parked.load(); }, 10s));
    std::thread([&] { stop.request_stop(); }).join();
    CHECK(throws_cancelled([&] { h.join(); }));
    CHECK(saw_token.load());
  }
  rt.shutdown();
}

TEST_CASE("cancel_on: the guard only reaches the fiber while it lives") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    std::stop_source stop;
    weft::Event go;
    std::atomic<bool> guarded{false};
    auto h = weft::spawn([&] {
      {
        auto guard = weft::cancel_on(stop.get_token());
      }
      guarded = true;
      go.wait();  // a stop after the guard died must not cancel this
      return 7;
    });
    REQUIRE(fiber_wait_until([&] { return guarded.load(); }, 10s));
    stop.request_stop();
    go.set();
    CHECK(h.join() == 7);
  });
  // On a plain thread the guard does nothing.
  std::stop_source stop;
  stop.request_stop();
  auto guard = weft::cancel_on(stop.get_token());
  CHECK_FALSE(weft::this_fiber::cancelled());
}
