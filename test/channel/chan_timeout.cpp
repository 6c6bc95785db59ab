// Parked senders and receivers that time out or are cancelled while values
// flow: a value handed over as a wait ends still counts, a sender that gives
// up keeps its value, and no value is lost or received twice.
#include <atomic>
#include <random>
#include <system_error>
#include <vector>

#include <weft/channel.hpp>

#include "chan_support.hpp"

using namespace chan_test;

namespace {

constexpr std::size_t kCapacities[] = {0, 1, 16};

// A deadline 0-3 ms away: the timer wheel ticks every millisecond, so many
// waits expire together, right as values are being handed over.
weft::Deadline short_deadline(std::minstd_rand& rng) {
  return weft::deadline_in(std::chrono::microseconds(rng() % 3000));
}

}  // namespace

namespace {

// deadline_race() runs producers x kPer values through a channel of capacity
// cap to consumers, every send and receive with a short deadline. Producers
// pause now and then (pacing, not synchronization) so waits do expire while
// values arrive, and consumers too, so senders wait. A send retries a value
// thrice, then gives it up.
void deadline_race(unsigned workers, std::size_t cap, std::size_t producers_n,
                   std::size_t consumers_n) {
  CAPTURE(cap);
  CAPTURE(producers_n);
  CAPTURE(consumers_n);
  constexpr std::size_t kPer = 50;
  const std::size_t n = producers_n * kPer;
  Ledger ledger(n);
  std::atomic<std::size_t> send_timeouts{0}, recv_timeouts{0}, bad{0};
  weft::Runtime rt(config(workers));
  rt.block_on([&] {
    weft::Channel<Token> ch(cap);
    std::vector<weft::JoinHandle<void>> consumers, producers;
    for (std::size_t c = 0; c < consumers_n; ++c) {
      consumers.push_back(weft::spawn([ch, c, &ledger, &recv_timeouts, &bad] {
        std::minstd_rand rng(static_cast<unsigned>(c + 1));
        for (;;) {
          std::error_code ec;
          auto t = ch.recv(ec, short_deadline(rng));
          if (t) {
            ledger.received(*t->id);
            if (rng() % 10 == 0)
              weft::this_fiber::sleep_for(std::chrono::microseconds(rng() % 2000));
          } else if (ec == std::errc::timed_out) {
            recv_timeouts++;
          } else {
            if (ec != weft::ChannelErrc::closed) bad++;
            return;
          }
        }
      }));
    }
    for (std::size_t p = 0; p < producers_n; ++p) {
      producers.push_back(weft::spawn([ch, p, &ledger, &send_timeouts, &bad] {
        std::minstd_rand rng(static_cast<unsigned>(p + 1000));
        for (std::size_t k = 0; k < kPer; ++k) {
          if (k % 10 == 9) weft::this_fiber::sleep_for(std::chrono::microseconds(rng() % 2000));
          Token t(p * kPer + k);
          std::error_code ec;
          bool sent = false;
          for (int attempt = 0; attempt < 3 && !sent; ++attempt) {
            sent = ch.send(std::move(t), ec, short_deadline(rng));
            if (!sent) {
              if (ec != std::errc::timed_out || !t.id) bad++;
              send_timeouts++;
            }
          }
          if (!sent) ledger.returned(*t.id);
        }
      }));
    }
    for (auto& h : producers) h.join();
    ch.close();
    for (auto& h : consumers) h.join();
    CHECK(ch.size() == 0);
  });
  CHECK(bad.load() == 0);
  ledger.check();
  MESSAGE("cap=" << cap << " producers=" << producers_n << " consumers=" << consumers_n
                 << " received=" << ledger.total_received() << " returned="
                 << ledger.total_returned() << " send_timeouts=" << send_timeouts.load()
                 << " recv_timeouts=" << recv_timeouts.load());
  // The race was exercised: with more consumers than producers, receivers
  // time out; with fewer, senders do (except into a buffer that absorbs them).
  if (consumers_n > producers_n) CHECK(recv_timeouts.load() > 0);
  if (producers_n > consumers_n && cap < 16) CHECK(send_timeouts.load() > 0);
}

}  // namespace

TEST_CASE("senders and receivers with short deadlines: timeouts race hand-overs, nothing is lost") {
  CHAN_WORKER_SUBCASES(workers);
  for (std::size_t cap : kCapacities) {
    Watchdog dog(120s, "deadline race cap=" + std::to_string(cap));
    deadline_race(workers, cap, 50, 400);
    deadline_race(workers, cap, 400, 50);
  }
}

TEST_CASE("cancelling parked senders and receivers while values flow loses nothing") {
  CHAN_WORKER_SUBCASES(workers);
  for (std::size_t cap : kCapacities) {
    CAPTURE(cap);
    Watchdog dog(120s, "cancel race cap=" + std::to_string(cap));
    constexpr std::size_t kProducers = 300, kPer = 20, kConsumers = 300, kN = kProducers * kPer;
    Ledger ledger(kN);
    std::atomic<std::size_t> cancelled_senders{0}, cancelled_receivers{0}, bad{0};
    weft::Runtime rt(config(workers));
    rt.block_on([&] {
      weft::Channel<Token> ch(cap);
      weft::Channel<int> gate(0);       // closed once every fiber is spawned
      weft::Channel<int> cancelled(1);  // one message once the cancels are out
      std::atomic<std::size_t> received{0};
      std::vector<weft::JoinHandle<void>> consumers, producers;
      // The consumer that takes the kN/4-th value cancels a third of each
      // side right there, mid-flow, while most of the others are parked on
      // the channel.
      auto cancel_some = [&] {
        for (std::size_t i = 0; i < kConsumers; i += 3) consumers[i].cancel();
        for (std::size_t i = 1; i < kProducers; i += 3) producers[i].cancel();
        cancelled.send(1);
      };
      for (std::size_t c = 0; c < kConsumers; ++c) {
        consumers.push_back(
            weft::spawn([ch, &ledger, &received, &cancelled_receivers, &cancel_some] {
              try {
                while (auto t = ch.recv()) {
                  ledger.received(*t->id);
                  if (received.fetch_add(1) + 1 == kN / 4) cancel_some();
                }
              } catch (const weft::Cancelled&) {
                cancelled_receivers++;
              }
            }));
      }
      for (std::size_t p = 0; p < kProducers; ++p) {
        producers.push_back(weft::spawn([ch, gate, p, &ledger, &cancelled_senders, &bad] {
          std::size_t k = 0;
          try {
            gate.recv();
            for (; k < kPer; ++k) {
              Token t(p * kPer + k);
              try {
                ch.send(std::move(t));
              } catch (const weft::Cancelled&) {
                // The throwing form leaves an undelivered value with the caller.
                if (!t.id) bad++;
                throw;
              }
            }
          } catch (const weft::Cancelled&) {
            cancelled_senders++;
            for (std::size_t j = k; j < kPer; ++j) ledger.returned(p * kPer + j);
          }
        }));
      }
      gate.close();
      REQUIRE(*cancelled.recv(weft::deadline_in(60s)) == 1);
      for (auto& h : producers) h.join();
      ch.close();
      for (auto& h : consumers) h.join();
      CHECK(ch.size() == 0);
    });
    CHECK(bad.load() == 0);
    ledger.check();
    MESSAGE("cap=" << cap << " received=" << ledger.total_received() << " returned="
                   << ledger.total_returned() << " cancelled senders=" << cancelled_senders.load()
                   << " receivers=" << cancelled_receivers.load());
    CHECK(cancelled_receivers.load() > 0);
    CHECK(ledger.total_received() >= kN / 4);
  }
}

TEST_CASE("a timed-out receive leaves later values for other receivers") {
  CHAN_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "timed-out receiver");
  weft::Runtime rt(config(workers));
  rt.block_on([] {
    weft::Channel<int> ch(0);
    // A receiver that gave up must not swallow the next value.
    std::error_code ec;
    CHECK(!ch.recv(ec, weft::deadline_in(2ms)));
    CHECK(ec == std::errc::timed_out);
    auto rx = weft::spawn([ch] { return *ch.recv(weft::deadline_in(10s)); });
    ch.send(42, weft::deadline_in(10s));
    CHECK(rx.join() == 42);
  });
}
