// Many producers and consumers on one channel, with exact accounting: every
// value is either received exactly once or handed back to its sender as not
// delivered. Capacities 0, 1, 16 and unbounded, with close after all sends
// and with close racing sends and receives.
#include <atomic>
#include <cstddef>
#include <system_error>
#include <vector>

#include <weft/channel.hpp>

#include "chan_support.hpp"

using namespace chan_test;

namespace {

constexpr std::size_t kCapacities[] = {0, 1, 16, weft::Channel<Token>::kUnbounded};

struct Shape {
  std::size_t producers;
  std::size_t per_producer;
  std::size_t consumers;
};

// run() sends producers * per_producer Tokens through one channel. When
// close_early, a closer fiber closes the channel once a third of the values
// arrived, so sends fail (the senders keep their Tokens) while others are
// parked or on their way; otherwise the channel is closed after every send.
void run(unsigned workers, std::size_t cap, Shape s, bool close_early) {
  CAPTURE(cap);
  CAPTURE(close_early);
  const std::size_t n = s.producers * s.per_producer;
  Ledger ledger(n);
  std::atomic<std::size_t> bad_errors{0};
  std::size_t left_in_channel = 99;
  weft::Runtime rt(config(workers));
  rt.block_on([&] {
    weft::Channel<Token> ch(cap);
    std::atomic<std::size_t> received{0};
    std::vector<weft::JoinHandle<void>> consumers, producers;
    for (std::size_t c = 0; c < s.consumers; ++c) {
      consumers.push_back(weft::spawn([ch, &ledger, &received, &bad_errors] {
        std::error_code ec;
        while (auto t = ch.recv(ec)) {
          ledger.received(*t->id);
          received.fetch_add(1, std::memory_order_relaxed);
        }
        if (ec != weft::ChannelErrc::closed) bad_errors++;
      }));
    }
    for (std::size_t p = 0; p < s.producers; ++p) {
      producers.push_back(weft::spawn([ch, p, s, &ledger, &bad_errors] {
        for (std::size_t k = 0; k < s.per_producer; ++k) {
          Token t(p * s.per_producer + k);
          std::error_code ec;
          if (ch.send(std::move(t), ec)) continue;
          if (ec != weft::ChannelErrc::closed || !t.id) bad_errors++;
          // Not delivered: this one and the ones never tried.
          ledger.returned(*t.id);
          for (std::size_t j = k + 1; j < s.per_producer; ++j)
            ledger.returned(p * s.per_producer + j);
          return;
        }
      }));
    }
    weft::JoinHandle<void> closer;
    if (close_early) {
      closer = weft::spawn([ch, &received, n] {
        while (received.load(std::memory_order_relaxed) < n / 3) weft::this_fiber::yield();
        ch.close();
      });
    }
    for (auto& h : producers) h.join();
    if (close_early) {
      closer.join();
    } else {
      ch.close();
    }
    for (auto& h : consumers) h.join();
    left_in_channel = ch.size();
  });
  CHECK(bad_errors.load() == 0);
  CHECK(left_in_channel == 0);
  ledger.check();
  if (!close_early) CHECK(ledger.total_received() == n);
  if (close_early) CHECK(ledger.total_received() >= n / 3);
  MESSAGE("cap=" << cap << " close_early=" << close_early << " received=" << ledger.total_received()
                 << " returned=" << ledger.total_returned());
}

}  // namespace

TEST_CASE("MPMC stress: thousands of fibers, every value received exactly once") {
  CHAN_WORKER_SUBCASES(workers);
  for (std::size_t cap : kCapacities) {
    Watchdog dog(120s, "MPMC stress cap=" + std::to_string(cap));
    run(workers, cap, Shape{2000, 50, 1000}, false);
  }
}

TEST_CASE("MPMC stress with close racing sends and receives: nothing lost, nothing twice") {
  CHAN_WORKER_SUBCASES(workers);
  for (std::size_t cap : kCapacities) {
    Watchdog dog(120s, "MPMC close race cap=" + std::to_string(cap));
    run(workers, cap, Shape{2000, 50, 1000}, true);
  }
}

TEST_CASE("MPMC stress with few fibers and many values per fiber") {
  CHAN_WORKER_SUBCASES(workers);
  for (std::size_t cap : kCapacities) {
    Watchdog dog(120s, "MPMC few fibers cap=" + std::to_string(cap));
    run(workers, cap, Shape{4, 25'000, 4}, false);
    run(workers, cap, Shape{4, 25'000, 4}, true);
  }
}
