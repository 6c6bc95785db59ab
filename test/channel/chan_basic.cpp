// Channel<T> one operation at a time: capacities, the try forms, closing,
// rendezvous, unbounded growth, range-for, move-only values, error codes,
// deadlines and cancellation of a single parked fiber.
#include <cstdlib>
#include <memory>
#include <new>
#include <numeric>
#include <string>
#include <system_error>
#include <vector>

#include <weft/channel.hpp>

#include "chan_support.hpp"

using namespace chan_test;

// Allocations made by this thread while `counting` is set: the fast paths of a
// bounded channel must not allocate.
namespace {
thread_local bool counting = false;
thread_local std::size_t allocations = 0;
}  // namespace

// GCC pairs the replaced operators with malloc/free inside std:: code and
// warns; they are a matching pair.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  if (counting) ++allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

TEST_CASE("sending and receiving on a bounded channel does not allocate") {
  weft::Channel<std::unique_ptr<int>> ch(16);
  std::vector<std::unique_ptr<int>> values;
  for (int i = 0; i < 1000; ++i) values.push_back(std::make_unique<int>(i));
  std::error_code ec;
  counting = true;
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 10; ++i) {
      auto& v = values[static_cast<std::size_t>(round * 10 + i)];
      if (i % 2) {
        ch.send(std::move(v), weft::deadline_in(1s));
      } else {
        ch.try_send(std::move(v), ec);
      }
    }
    for (int i = 0; i < 10; ++i) {
      auto v = i % 2 ? ch.recv(weft::deadline_in(1s)) : ch.try_recv(ec);
      values[static_cast<std::size_t>(round * 10 + i)] = std::move(*v);
    }
  }
  counting = false;
  CHECK(allocations == 0);
  CHECK(*values[999] == 999);
}

TEST_CASE("try_send and try_recv on a bounded channel keep FIFO order and report full/empty") {
  weft::Channel<int> ch(3);
  CHECK(ch.capacity() == 3);
  CHECK(ch.size() == 0);
  std::error_code ec;
  CHECK(!ch.try_recv(ec));
  CHECK(ec == weft::ChannelErrc::empty);
  for (int i = 0; i < 3; ++i) CHECK(ch.try_send(i));
  CHECK(ch.size() == 3);
  int four = 4;
  CHECK(!ch.try_send(four, ec));
  CHECK(ec == weft::ChannelErrc::full);
  CHECK(*ch.try_recv() == 0);
  CHECK(ch.try_send(3, ec));
  CHECK(!ec);
  for (int i = 1; i <= 3; ++i) CHECK(*ch.try_recv(ec) == i);
  CHECK(!ec);
  CHECK(!ch.try_recv());
  // Wrap around the ring a few times.
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 2; ++i) REQUIRE(ch.try_send(round * 10 + i));
    for (int i = 0; i < 2; ++i) REQUIRE(*ch.try_recv() == round * 10 + i);
  }
}

TEST_CASE(
    "close: receivers drain what is buffered, then see closed; senders fail and keep their "
    "values") {
  weft::Channel<Token> ch(4);
  REQUIRE(ch.try_send(Token(1)));
  REQUIRE(ch.try_send(Token(2)));
  CHECK(!ch.is_closed());
  CHECK(ch.close());
  CHECK(ch.is_closed());
  CHECK(!ch.close());

  Token t(3);
  std::error_code ec;
  CHECK(!ch.try_send(std::move(t), ec));
  CHECK(ec == weft::ChannelErrc::closed);
  REQUIRE(t.id);  // not moved from
  CHECK(!ch.send(std::move(t), ec));
  CHECK(ec == weft::ChannelErrc::closed);
  REQUIRE(t.id);
  CHECK_THROWS_AS(ch.send(std::move(t)), weft::ChannelClosed);
  REQUIRE(t.id);
  CHECK(*t.id == 3);

  auto a = ch.recv();
  REQUIRE(a);
  CHECK(*a->id == 1);
  auto b = ch.recv(ec);
  REQUIRE(b);
  CHECK(!ec);
  CHECK(*b->id == 2);
  CHECK(!ch.recv());  // closed and drained: no exception
  CHECK(!ch.recv(ec));
  CHECK(ec == weft::ChannelErrc::closed);
  CHECK(!ch.try_recv(ec));
  CHECK(ec == weft::ChannelErrc::closed);
}

TEST_CASE(
    "a rendezvous channel has no buffer: try_send needs a waiting receiver, send times out without "
    "one") {
  weft::Channel<Token> ch(0);
  CHECK(ch.capacity() == 0);
  Token t(5);
  std::error_code ec;
  CHECK(!ch.try_send(std::move(t), ec));
  CHECK(ec == weft::ChannelErrc::full);
  auto t0 = Clock::now();
  CHECK(!ch.send(std::move(t), ec, weft::deadline_in(20ms)));
  CHECK(ec == std::errc::timed_out);
  CHECK(Clock::now() - t0 >= 20ms);
  REQUIRE(t.id);
  CHECK(*t.id == 5);
  try {
    ch.send(std::move(t), weft::deadline_in(1ms));
    FAIL("send did not time out");
  } catch (const std::system_error& e) {
    CHECK(e.code() == std::errc::timed_out);
  }
  REQUIRE(t.id);
  CHECK(!ch.recv(ec, weft::deadline_in(1ms)));
  CHECK(ec == std::errc::timed_out);
  CHECK_THROWS_AS(ch.recv(weft::deadline_in(1ms)), std::system_error);
}

TEST_CASE("a rendezvous send completes only when a receiver takes the value") {
  CHAN_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "rendezvous");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    for (int round = 0; round < 200; ++round) {
      weft::Channel<int> ch(0);
      std::atomic<bool> sent{false};
      auto h = weft::spawn([ch, &sent, round] {
        ch.send(round);
        sent = true;
      });
      for (int i = 0; i < 20; ++i) {
        REQUIRE(!sent.load());
        weft::this_fiber::yield();
      }
      REQUIRE(*ch.recv(weft::deadline_in(10s)) == round);
      h.join();
      REQUIRE(sent.load());
    }
  });
}

TEST_CASE("an unbounded channel never makes a sender wait and keeps order") {
  auto a = weft::Channel<std::string>::unbounded();
  weft::Channel<std::string> b(weft::unbounded);
  CHECK(a.capacity() == weft::Channel<std::string>::kUnbounded);
  CHECK(b.capacity() == weft::Channel<std::string>::kUnbounded);
  constexpr int kN = 100'000;
  int next = 0;  // the next value a receive must see
  for (int i = 0; i < kN; ++i) {
    REQUIRE(a.try_send(std::to_string(i)));
    // Take some back now and then, so the ring wraps before it grows.
    if (i % 1000 == 999)
      for (int k = 0; k < 300; ++k) REQUIRE(*a.try_recv() == std::to_string(next++));
  }
  CHECK(a.size() == static_cast<std::size_t>(kN - next));
  std::error_code ec;
  while (next < kN) REQUIRE(*a.recv(ec, weft::deadline_in(1s)) == std::to_string(next++));
  CHECK(!ec);
  CHECK(!a.try_recv());
}

TEST_CASE("range-for over a channel ends when it is closed and drained") {
  CHAN_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "range-for");
  weft::Runtime rt(config(workers));
  for (std::size_t cap :
       {std::size_t{0}, std::size_t{1}, std::size_t{16}, weft::Channel<int>::kUnbounded}) {
    // CAPTURE out here: doctest keeps it per thread, and a fiber may move.
    CAPTURE(cap);
    std::vector<int> got = rt.block_on([cap] {
      weft::Channel<std::unique_ptr<int>> ch(cap);
      auto producer = weft::spawn([ch] {
        for (int i = 0; i < 1000; ++i) ch.send(std::make_unique<int>(i));
        ch.close();
      });
      std::vector<int> got;
      for (auto& p : ch) got.push_back(*std::move(p));
      producer.join();
      return got;
    });
    std::vector<int> want(1000);
    std::iota(want.begin(), want.end(), 0);
    CHECK(got == want);
  }
}

TEST_CASE("a deadline scope bounds channel waits like their own deadlines") {
  CHAN_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "deadline scope");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    weft::Channel<int> ch(1);
    auto t0 = Clock::now();
    try {
      weft::with_timeout(20ms, [&] { ch.recv(); });
      FAIL("recv did not time out");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::timed_out);
    }
    CHECK(Clock::now() - t0 >= 20ms);
    REQUIRE(ch.try_send(1));
    std::error_code ec;
    weft::with_timeout(10ms, [&] { CHECK(!ch.send(2, ec)); });
    CHECK(ec == std::errc::timed_out);
    // A ready channel completes even under an expired scope.
    weft::with_deadline(Clock::now(), [&] { CHECK(*ch.recv() == 1); });
  });
}

TEST_CASE("cancelling a fiber parked in recv or send ends the wait; its value stays with it") {
  CHAN_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "cancel a parked fiber");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    weft::Channel<Token> ch(0);
    std::atomic<int> parked{0};
    auto receiver = weft::spawn([ch, &parked] {
      ++parked;
      ch.recv();
    });
    std::error_code send_ec;
    bool token_kept = false;
    auto sender = weft::spawn([ch, &parked, &send_ec, &token_kept] {
      Token t(9);
      ++parked;
      // The receiver above may take it; then the sender returns at once.
      if (!ch.send(std::move(t), send_ec)) token_kept = t.id != nullptr;
    });
    // Let both reach the channel; whichever pairs up completes.
    for (int i = 0; i < 100 && parked.load() < 2; ++i) weft::this_fiber::yield();
    receiver.cancel();
    sender.cancel();
    bool receiver_cancelled = false;
    try {
      receiver.join();
    } catch (const weft::Cancelled&) {
      receiver_cancelled = true;
    }
    sender.join();
    if (receiver_cancelled) {
      // Nothing was handed over: the sender timed out of its wait by
      // cancellation and kept its value.
      CHECK(send_ec == std::errc::operation_canceled);
      CHECK(token_kept);
    } else {
      CHECK(!send_ec);
    }
  });
}

TEST_CASE("no-throw forms report cancellation as operation_canceled") {
  weft::Runtime rt(config(1));
  weft::Channel<int> ch(1);
  auto h = rt.spawn([ch] {
    std::error_code ec;
    auto v = ch.recv(ec);
    return !v && ec == std::errc::operation_canceled;
  });
  // Parked or not yet started: the wait is a cancellation point either way.
  h.cancel();
  CHECK(h.join());
}

TEST_CASE("channel errors have a category, messages and read as broken_pipe when closed") {
  std::error_code ec = weft::ChannelErrc::closed;
  CHECK(std::string(ec.category().name()) == "weft.channel");
  CHECK(ec.message() == "channel closed");
  CHECK(ec == std::errc::broken_pipe);
  CHECK(std::error_code(weft::ChannelErrc::full) != std::errc::broken_pipe);
  CHECK(std::error_code(weft::ChannelErrc::sender_dropped).message().find("oneshot") !=
        std::string::npos);
  weft::ChannelClosed e;
  CHECK(e.code() == weft::ChannelErrc::closed);
}

TEST_CASE("copies of a handle share one channel") {
  weft::Channel<int> a(2);
  weft::Channel<int> b = a;
  weft::Channel<int> c(2);
  CHECK(a == b);
  CHECK(!(a == c));
  REQUIRE(a.try_send(1));
  CHECK(*b.try_recv() == 1);
  b.close();
  CHECK(a.is_closed());
}
