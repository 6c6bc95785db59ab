// select: fairness among ready cases, the default case, deadlines and deadline
// scopes, closed channels, cancellation, send and receive cases, and a stress
// run where select waiters compete with plain senders and receivers.
#include <atomic>
#include <optional>
#include <system_error>
#include <vector>

#include <weft/channel.hpp>
#include <weft/select.hpp>

#include "chan_support.hpp"

using namespace chan_test;

TEST_CASE("select picks fairly among ready cases") {
  constexpr int kRounds = 4000;
  weft::Channel<int> a(kRounds), b(kRounds), out(kRounds);
  for (int i = 0; i < kRounds; ++i) {
    REQUIRE(a.try_send(i));
    REQUIRE(b.try_send(i));
  }
  int na = 0, nb = 0;
  for (int i = 0; i < kRounds; ++i) {
    std::size_t k =
        weft::select(weft::on_recv(a, [&](int) { ++na; }), weft::on_recv(b, [&](int) { ++nb; }));
    REQUIRE(k < 2);
    REQUIRE(na + nb == i + 1);
  }
  CHECK(na + nb == kRounds);
  // Binomial(4000, 1/2) has a standard deviation of about 32: 40%..60% is
  // more than 12 of them, while an unfair pick (always the first) fails.
  CHECK(na > kRounds * 4 / 10);
  CHECK(nb > kRounds * 4 / 10);

  // Three ready cases, one a send: each wins at least a quarter of the time.
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 3000; ++i) {
    std::size_t k = weft::select(weft::on_recv(a), weft::on_send(out, i), weft::on_recv(b));
    REQUIRE(k < 3);
    ++counts[k];
    if (out.size() == static_cast<std::size_t>(kRounds)) {
      while (out.try_recv()) {
      }
    }
  }
  for (int c : counts) CHECK(c > 750);
}

TEST_CASE("select stays fair while producers on other fibers refill both channels") {
  CHAN_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "select fairness with producers");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    constexpr int kRounds = 4000;
    weft::Channel<int> a(8), b(8);
    auto pa = weft::spawn([a] {
      std::error_code ec;
      while (a.send(1, ec)) {
      }
    });
    auto pb = weft::spawn([b] {
      std::error_code ec;
      while (b.send(2, ec)) {
      }
    });
    int counts[3] = {0, 0, 0};
    for (int i = 0; i < kRounds; ++i) {
      // Judge the pick only when both cases are ready: a producer whose
      // worker lags would otherwise force the choice.
      while (a.size() == 0 || b.size() == 0) weft::this_fiber::yield();
      int got = 0;
      weft::select(weft::on_recv(a, [&](int v) { got = v; }),
                   weft::on_recv(b, [&](int v) { got = v; }), weft::on_timeout(10s));
      REQUIRE((got == 1 || got == 2));
      ++counts[got];
    }
    a.close();
    b.close();
    pa.join();
    pb.join();
    // Binomial(4000, 1/2): 40%..60% is over 12 standard deviations.
    CHECK(counts[1] > kRounds * 4 / 10);
    CHECK(counts[2] > kRounds * 4 / 10);
  });
}

TEST_CASE("otherwise fires when no case is ready, and only then") {
  weft::Channel<int> a(1), b(0);
  bool fired = false;
  std::size_t k = weft::select(weft::on_recv(a, [](int) { FAIL("nothing to receive"); }),
                               weft::on_send(b, 1, [] { FAIL("no receiver"); }),
                               weft::otherwise([&] { fired = true; }));
  CHECK(k == 2);
  CHECK(fired);
  REQUIRE(a.try_send(7));
  int got = 0;
  k = weft::select(weft::otherwise(), weft::on_recv(a, [&](int v) { got = v; }));
  CHECK(k == 1);
  CHECK(got == 7);
  CHECK(weft::select(weft::otherwise()) == 0);
}

TEST_CASE("select with a deadline: on_timeout fires, a deadline scope throws") {
  CHAN_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "select deadline");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    weft::Channel<int> a(1), b(0);
    auto t0 = Clock::now();
    bool timed_out = false;
    std::size_t k =
        weft::select(weft::on_recv(a, [](int) {}), weft::on_send(b, 1),
                     weft::on_timeout(weft::deadline_in(20ms), [&] { timed_out = true; }));
    CHECK(k == 2);
    CHECK(timed_out);
    CHECK(Clock::now() - t0 >= 20ms);
    CHECK(weft::select(weft::on_timeout(5ms), weft::on_recv(a)) == 0);  // duration form
    // An expired deadline still lets a ready case win.
    REQUIRE(a.try_send(3));
    CHECK(weft::select(weft::on_recv(a), weft::on_timeout(Clock::now() - 1s)) == 0);
    // No on_timeout: the scope's deadline ends the wait with an exception.
    t0 = Clock::now();
    try {
      weft::with_timeout(10ms, [&] { weft::select(weft::on_recv(a), weft::on_send(b, 2)); });
      FAIL("select did not time out");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::timed_out);
    }
    CHECK(Clock::now() - t0 >= 10ms);
    // The scope ends a wait whose own timeout is later: still an exception.
    CHECK_THROWS_AS(
        weft::with_timeout(5ms, [&] { weft::select(weft::on_recv(a), weft::on_timeout(10s)); }),
        std::system_error);
    // The sender of case 1 never paired with anyone: b has no stale sender.
    CHECK(!b.try_recv());
  });
}

TEST_CASE("select over a closed channel") {
  weft::Channel<int> a(2), open(1);
  REQUIRE(a.try_send(1));
  a.close();
  std::optional<int> seen;
  // Buffered values come first, then the closed case fires with nullopt.
  CHECK(weft::select(weft::on_recv(open, [](int) {}),
                     weft::on_recv(a, [&](std::optional<int> v) { seen = v; })) == 1);
  CHECK(seen == 1);
  bool fired = false;
  CHECK(weft::select(weft::on_recv(a, [&](std::optional<int> v) {
          fired = true;
          seen = v;
        })) == 0);
  CHECK(fired);
  CHECK(!seen);
  // A callback without arguments fires on close, like Go's `case <-done:`.
  fired = false;
  CHECK(weft::select(weft::on_recv(open), weft::on_recv(a, [&] { fired = true; })) == 1);
  CHECK(fired);
  // A callback taking T cannot express closed: select throws.
  CHECK_THROWS_AS(weft::select(weft::on_recv(a, [](int) {})), weft::ChannelClosed);
  // Send cases: a bool callback learns the value was not sent; without one, select throws.
  bool sent = true;
  CHECK(weft::select(weft::on_send(a, 5, [&](bool ok) { sent = ok; })) == 0);
  CHECK(!sent);
  CHECK_THROWS_AS(weft::select(weft::on_send(a, 5)), weft::ChannelClosed);
}

TEST_CASE("a parked select is completed by a sender or a receiver on another fiber") {
  CHAN_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "parked select");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    for (int round = 0; round < 300; ++round) {
      weft::Channel<int> in(0), out(0), unused(0);
      auto helper = weft::spawn([in, out, round] {
        if (round % 2) {
          in.send(round, weft::deadline_in(10s));
          return -1;
        }
        return *out.recv(weft::deadline_in(10s));
      });
      int got = -2;
      std::size_t k =
          weft::select(weft::on_recv(unused), weft::on_recv(in, [&](int v) { got = v; }),
                       weft::on_send(out, round), weft::on_timeout(10s));
      int h = helper.join();
      if (round % 2) {
        CHECK(k == 1);
        CHECK(got == round);
      } else {
        CHECK(k == 2);
        CHECK(h == round);
      }
    }
  });
}

TEST_CASE("two selects each sending and receiving on one rendezvous channel pair up") {
  CHAN_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "select pairs");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    for (int round = 0; round < 300; ++round) {
      weft::Channel<int> ch(0);
      auto side = [ch](int id) {
        int got = -1;
        std::size_t k =
            weft::select(weft::on_send(ch, id), weft::on_recv(ch, [&](int v) { got = v; }),
                         weft::on_timeout(10s));
        return k == 1 ? got : (k == 0 ? 100 : -1);
      };
      auto a = weft::spawn([&] { return side(1); });
      int b = side(2);
      int av = a.join();
      // One sent, the other received what it sent.
      CHECK(((av == 100 && b == 1) || (b == 100 && av == 2)));
    }
  });
}

TEST_CASE("cancelling a fiber parked in select") {
  CHAN_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "cancel select");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    weft::Channel<int> a(0), b(0);
    auto h = weft::spawn([a, b] { weft::select(weft::on_recv(a), weft::on_send(b, 1)); });
    weft::this_fiber::yield();
    h.cancel();
    CHECK_THROWS_AS(h.join(), weft::Cancelled);
    // Its nodes are gone: nobody receives its value or takes ours.
    CHECK(!b.try_recv());
    CHECK(!a.try_send(1));
  });
}

TEST_CASE("select stress: select consumers and producers beside plain ones, every value once") {
  CHAN_WORKER_SUBCASES(workers);
  for (std::size_t cap :
       {std::size_t{0}, std::size_t{1}, std::size_t{16}, weft::Channel<Token>::kUnbounded}) {
    CAPTURE(cap);
    Watchdog dog(120s, "select stress cap=" + std::to_string(cap));
    constexpr std::size_t kProducers = 400, kPer = 50, kConsumers = 200, kN = kProducers * kPer;
    Ledger ledger(kN);
    std::atomic<std::size_t> bad{0}, timeouts{0};
    weft::Runtime rt(config(workers));
    rt.block_on([&] {
      weft::Channel<Token> a(cap), b(cap);
      std::vector<weft::JoinHandle<void>> consumers, producers;
      for (std::size_t c = 0; c < kConsumers; ++c) {
        consumers.push_back(weft::spawn([a, b, c, &ledger, &timeouts] {
          if (c % 4 == 0) {  // plain receivers on one channel
            const auto& ch = c % 8 ? a : b;
            while (auto t = ch.recv()) ledger.received(*t->id);
            return;
          }
          bool a_open = true, b_open = true;
          while (a_open || b_open) {
            auto take = [&](bool& open) {
              return [&](std::optional<Token> t) {
                if (t) {
                  ledger.received(*t->id);
                } else {
                  open = false;
                }
              };
            };
            if (a_open && b_open) {
              // Some with a short timeout, so select waiters also give up mid-race.
              if (c % 4 == 1) {
                if (weft::select(weft::on_recv(a, take(a_open)), weft::on_recv(b, take(b_open)),
                                 weft::on_timeout(std::chrono::microseconds(500))) == 2)
                  timeouts++;
              } else {
                weft::select(weft::on_recv(a, take(a_open)), weft::on_recv(b, take(b_open)));
              }
            } else {
              weft::Channel<Token> rest = a_open ? a : b;
              while (auto t = rest.recv()) ledger.received(*t->id);
              a_open = b_open = false;
            }
          }
        }));
      }
      for (std::size_t p = 0; p < kProducers; ++p) {
        producers.push_back(weft::spawn([a, b, p, &ledger, &bad] {
          for (std::size_t k = 0; k < kPer; ++k) {
            const std::size_t id = p * kPer + k;
            if (p % 3 == 0) {
              (k % 2 ? a : b).send(Token(id));
              continue;
            }
            // Offer the value on both channels; exactly one case takes it.
            std::size_t fired = 0;
            std::size_t i = weft::select(weft::on_send(a, Token(id), [&] { fired++; }),
                                         weft::on_send(b, Token(id), [&] { fired++; }));
            if (fired != 1 || i > 1) bad++;
          }
        }));
      }
      for (auto& h : producers) h.join();
      a.close();
      b.close();
      for (auto& h : consumers) h.join();
      CHECK(a.size() == 0);
      CHECK(b.size() == 0);
    });
    CHECK(bad.load() == 0);
    // Each select producer made two Tokens with the same id and sent one: the
    // ledger must count each id received exactly once.
    ledger.check();
    CHECK(ledger.total_received() == kN);
    MESSAGE("cap=" << cap << " select timeouts=" << timeouts.load());
  }
}
