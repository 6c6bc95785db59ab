// oneshot<T>(): one value, one producer, one consumer; what dropping either
// end does; deadlines; fibers and plain threads on either side.
#include <memory>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <weft/oneshot.hpp>

#include "chan_support.hpp"

using namespace chan_test;

TEST_CASE("oneshot: a value sent before recv, then the ends are spent") {
  auto [tx, rx] = weft::oneshot<std::unique_ptr<int>>();
  CHECK(!rx.is_ready());
  std::error_code ec;
  CHECK(!rx.try_recv(ec));
  CHECK(ec == weft::ChannelErrc::empty);
  CHECK(!tx.is_closed());
  CHECK(tx.send(std::make_unique<int>(42)));
  CHECK(tx.is_closed());
  CHECK_THROWS_AS(tx.send(std::make_unique<int>(1)), std::logic_error);
  CHECK(rx.is_ready());
  CHECK(*rx.recv() == 42);
  CHECK_THROWS_AS(rx.recv(), std::logic_error);
}

TEST_CASE("oneshot: dropping the sender unsent makes recv fail clearly") {
  auto [tx, rx] = weft::oneshot<int>();
  { auto gone = std::move(tx); }
  CHECK(rx.is_ready());
  try {
    rx.recv();
    FAIL("recv did not fail");
  } catch (const weft::ChannelClosed& e) {
    CHECK(e.code() == weft::ChannelErrc::sender_dropped);
    CHECK(std::string(e.what()).find("sender dropped") != std::string::npos);
  }
  std::error_code ec;
  CHECK(!rx.recv(ec));
  CHECK(ec == weft::ChannelErrc::sender_dropped);
  CHECK(!rx.try_recv(ec));
  CHECK(ec == weft::ChannelErrc::sender_dropped);
}

TEST_CASE("oneshot: dropping the receiver makes send fail and keep the value") {
  auto [tx, rx] = weft::oneshot<std::unique_ptr<int>>();
  { auto gone = std::move(rx); }
  CHECK(tx.is_closed());
  auto v = std::make_unique<int>(3);
  CHECK(!tx.send(std::move(v)));
  REQUIRE(v);
  CHECK(*v == 3);
}

TEST_CASE("oneshot: recv with a deadline times out and can be retried") {
  auto [tx, rx] = weft::oneshot<int>();
  std::error_code ec;
  CHECK(!rx.recv(ec, weft::deadline_in(5ms)));
  CHECK(ec == std::errc::timed_out);
  try {
    rx.recv(weft::deadline_in(1ms));
    FAIL("recv did not time out");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::timed_out);
  }
  CHECK(tx.send(8));
  CHECK(rx.recv(weft::deadline_in(1s)) == 8);
}

TEST_CASE("oneshot between fibers: the receiver parks until the value or the sender's drop") {
  CHAN_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "oneshot between fibers");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    for (int round = 0; round < 500; ++round) {
      auto [tx, rx] = weft::oneshot<int>();
      auto h = weft::spawn([tx = std::move(tx), round]() mutable {
        weft::this_fiber::yield();
        if (round % 3 != 0) tx.send(round);
        // round % 3 == 0: tx is dropped unsent when the fiber ends.
      });
      std::error_code ec;
      auto v = rx.recv(ec, weft::deadline_in(10s));
      if (round % 3 == 0) {
        CHECK(!v);
        CHECK(ec == weft::ChannelErrc::sender_dropped);
      } else {
        CHECK(v == round);
      }
      h.join();
    }
  });
}

TEST_CASE("oneshot across a plain thread and a fiber, both ways") {
  CHAN_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "oneshot thread/fiber");
  weft::Runtime rt(config(workers));
  for (int round = 0; round < 200; ++round) {
    auto [tx, rx] = weft::oneshot<int>();
    auto back = weft::oneshot<int>();
    auto fiber = rt.spawn([rx = std::move(rx), btx = std::move(back.first)]() mutable {
      int v = rx.recv(weft::deadline_in(10s));
      btx.send(v + 1);
    });
    std::thread t([tx = std::move(tx), round]() mutable { tx.send(round); });
    CHECK(back.second.recv(weft::deadline_in(10s)) == round + 1);  // a plain thread waits
    t.join();
    fiber.join();
  }
}
