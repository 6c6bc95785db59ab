// Plain std::threads on channels: with no runtime at all, as producers for
// fiber consumers and as consumers of fiber producers; closing wakes blocked
// threads; select and deadlines on a thread.
#include <atomic>
#include <system_error>
#include <thread>
#include <vector>

#include <weft/channel.hpp>
#include <weft/select.hpp>

#include "chan_support.hpp"

using namespace chan_test;

namespace {

constexpr std::size_t kCapacities[] = {0, 1, 16, weft::Channel<Token>::kUnbounded};

// consume() receives until closed, recording every value.
void consume(const weft::Channel<Token>& ch, Ledger& ledger) {
  while (auto t = ch.recv(weft::deadline_in(60s))) ledger.received(*t->id);
}

// produce() sends ids [from, to).
void produce(const weft::Channel<Token>& ch, std::size_t from, std::size_t to) {
  for (std::size_t i = from; i < to; ++i) ch.send(Token(i), weft::deadline_in(60s));
}

}  // namespace

TEST_CASE("threads only, no runtime: MPMC with exact accounting") {
  for (std::size_t cap : kCapacities) {
    CAPTURE(cap);
    Watchdog dog(120s, "threads only cap=" + std::to_string(cap));
    constexpr std::size_t kThreads = 4, kPer = 20'000, kN = kThreads * kPer;
    Ledger ledger(kN);
    weft::Channel<Token> ch(cap);
    std::vector<std::thread> consumers, producers;
    for (std::size_t i = 0; i < kThreads; ++i) consumers.emplace_back([&] { consume(ch, ledger); });
    for (std::size_t i = 0; i < kThreads; ++i)
      producers.emplace_back([&, i] { produce(ch, i * kPer, (i + 1) * kPer); });
    for (auto& t : producers) t.join();
    ch.close();
    for (auto& t : consumers) t.join();
    ledger.check();
  }
}

TEST_CASE("plain thread producers, fiber consumers") {
  CHAN_WORKER_SUBCASES(workers);
  for (std::size_t cap : kCapacities) {
    CAPTURE(cap);
    Watchdog dog(120s, "thread producers cap=" + std::to_string(cap));
    constexpr std::size_t kThreads = 3, kPer = 10'000, kN = kThreads * kPer, kFibers = 100;
    Ledger ledger(kN);
    weft::Runtime rt(config(workers));
    weft::Channel<Token> ch(cap);
    std::vector<weft::JoinHandle<void>> consumers;
    for (std::size_t i = 0; i < kFibers; ++i)
      consumers.push_back(rt.spawn([ch, &ledger] { consume(ch, ledger); }));
    std::vector<std::thread> producers;
    for (std::size_t i = 0; i < kThreads; ++i)
      producers.emplace_back([&, i] { produce(ch, i * kPer, (i + 1) * kPer); });
    for (auto& t : producers) t.join();
    ch.close();
    for (auto& h : consumers) h.join();
    ledger.check();
  }
}

TEST_CASE("fiber producers, plain thread consumers") {
  CHAN_WORKER_SUBCASES(workers);
  for (std::size_t cap : kCapacities) {
    CAPTURE(cap);
    Watchdog dog(120s, "thread consumers cap=" + std::to_string(cap));
    constexpr std::size_t kFibers = 100, kPer = 300, kN = kFibers * kPer, kThreads = 3;
    Ledger ledger(kN);
    weft::Runtime rt(config(workers));
    weft::Channel<Token> ch(cap);
    std::vector<std::thread> consumers;
    for (std::size_t i = 0; i < kThreads; ++i) consumers.emplace_back([&] { consume(ch, ledger); });
    std::vector<weft::JoinHandle<void>> producers;
    for (std::size_t i = 0; i < kFibers; ++i)
      producers.push_back(rt.spawn([ch, i] { produce(ch, i * kPer, (i + 1) * kPer); }));
    for (auto& h : producers) h.join();
    ch.close();
    for (auto& t : consumers) t.join();
    ledger.check();
  }
}

TEST_CASE("close wakes threads blocked in send and recv") {
  Watchdog dog(60s, "close wakes threads");
  weft::Channel<int> full(1), empty(1);
  REQUIRE(full.try_send(1));
  std::atomic<int> started{0};
  std::error_code send_ec, recv_ec;
  std::thread sender([&] {
    ++started;
    full.send(2, send_ec);
  });
  std::thread receiver([&] {
    ++started;
    empty.recv(recv_ec);
  });
  while (started.load() < 2) std::this_thread::yield();
  // Whether they are asleep yet or about to be, close reaches them.
  full.close();
  empty.close();
  sender.join();
  receiver.join();
  CHECK(send_ec == weft::ChannelErrc::closed);
  CHECK(recv_ec == weft::ChannelErrc::closed);
  CHECK(*full.recv() == 1);  // the buffered value survives the close
}

TEST_CASE("deadlines and select on a plain thread") {
  Watchdog dog(60s, "thread select");
  weft::Channel<int> a(0), b(0);
  auto t0 = Clock::now();
  std::error_code ec;
  CHECK(!a.recv(ec, weft::deadline_in(15ms)));
  CHECK(ec == std::errc::timed_out);
  CHECK(Clock::now() - t0 >= 15ms);
  CHECK(weft::select(weft::on_recv(a), weft::on_recv(b), weft::on_timeout(10ms)) == 2);

  // A fiber on a runtime completes a thread's parked select, and the reverse.
  weft::Runtime rt(config(2));
  for (int round = 0; round < 100; ++round) {
    auto h = rt.spawn([a, b, round] {
      if (round % 2) {
        b.send(round, weft::deadline_in(10s));
      } else {
        int got = -1;
        weft::select(weft::on_recv(a, [&](int v) { got = v; }), weft::on_timeout(10s));
        return got;
      }
      return round;
    });
    int got = -1;
    std::size_t k = weft::select(weft::on_send(a, round), weft::on_recv(b, [&](int v) { got = v; }),
                                 weft::on_timeout(10s));
    CHECK(k == static_cast<std::size_t>(round % 2 ? 1 : 0));
    CHECK(h.join() == round);
    if (round % 2) CHECK(got == round);
  }
}

TEST_CASE("plain threads with short deadlines: timeouts race hand-overs, nothing lost or twice") {
  // A thread's wait may end on its deadline just as a waker claims it; the
  // claim wins (the value counts), and the waiter returns only once the
  // waker is done with it.
  for (std::size_t cap : {std::size_t{0}, std::size_t{1}}) {
    CAPTURE(cap);
    Watchdog dog(120s, "thread deadline race cap=" + std::to_string(cap));
    constexpr std::size_t kThreads = 3, kPer = 3'000, kN = kThreads * kPer;
    Ledger ledger(kN);
    weft::Channel<Token> ch(cap);
    std::atomic<std::size_t> send_timeouts{0}, recv_timeouts{0}, bad{0};
    std::vector<std::thread> consumers, producers;
    for (std::size_t c = 0; c < kThreads; ++c) {
      consumers.emplace_back([&, c] {
        unsigned r = static_cast<unsigned>(c + 1);
        for (;;) {
          r = r * 1103515245u + 12345u;
          std::error_code ec;
          auto t = ch.recv(ec, weft::deadline_in(std::chrono::microseconds(r % 200)));
          if (t) {
            ledger.received(*t->id);
          } else if (ec == std::errc::timed_out) {
            recv_timeouts++;
          } else {
            if (ec != weft::ChannelErrc::closed) bad++;
            return;
          }
        }
      });
    }
    for (std::size_t p = 0; p < kThreads; ++p) {
      producers.emplace_back([&, p] {
        unsigned r = static_cast<unsigned>(p + 1000);
        for (std::size_t k = 0; k < kPer; ++k) {
          r = r * 1103515245u + 12345u;
          Token t(p * kPer + k);
          std::error_code ec;
          if (ch.send(std::move(t), ec, weft::deadline_in(std::chrono::microseconds(r % 200)))) continue;
          if (ec != std::errc::timed_out || !t.id) bad++;
          send_timeouts++;
          ledger.returned(*t.id);  // the sender that gave up still has it
        }
      });
    }
    for (auto& t : producers) t.join();
    ch.close();
    for (auto& t : consumers) t.join();
    CHECK(bad.load() == 0);
    CHECK(ch.size() == 0);
    ledger.check();
    CHECK(send_timeouts.load() + recv_timeouts.load() > 0);  // the race was exercised
  }
}
