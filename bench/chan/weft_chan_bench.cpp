// weft_chan_bench: channel, select and mutex microbenchmarks, weft's side of
// bench/chan/run.sh, which runs them interleaved with the same programs in Go
// (go/main.go) and Tokio (tokio/src/main.rs). Each run prints one line in the
// format of shared/peers/micro:
//   bench=<name> impl=weft threads=<n> ops=<N> seconds=<t> ns_per_op=<x> peak_rss_kb=<k>
//
//   chan_spsc   1 producer, 1 consumer, capacity 128: ops values
//   chan_mpsc   4 producers, 1 consumer, capacity 128
//   chan_mpmc   4 producers, 4 consumers, capacity 128
//   select2     2 producers on 2 channels (capacity 128), 1 consumer selecting over both
//   mutex       4 tasks each locking, incrementing a counter, unlocking
//
// threads=1 puts every task on one worker; threads=2 runs two workers, and
// the scheduler spreads the tasks (as Go with GOMAXPROCS=2 and Tokio's
// multi-thread runtime do). Every run checks its result (the sum of the values
// received, the counter) and times the benchmark body inside the runtime.
//
// usage: weft_chan_bench --bench NAME --threads N
#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <weft/channel.hpp>
#include <weft/runtime.hpp>
#include <weft/select.hpp>
#include <weft/sync/mutex.hpp>

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kChanOps = 2'000'000;   // values through the channel(s)
constexpr std::uint64_t kMutexOps = 1'000'000;  // lock/unlock pairs, all tasks together
constexpr std::size_t kCapacity = 128;
constexpr unsigned kPeers = 4;  // producers (and consumers) of mpsc/mpmc, tasks of mutex

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "weft_chan_bench: %s\n", what);
  std::fflush(stderr);
  std::_Exit(1);
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// sum_below() is 0 + 1 + ... + (n - 1), what the consumers must add up to.
constexpr std::uint64_t sum_below(std::uint64_t n) { return n * (n - 1) / 2; }

// produce() sends the values [from, to) with the given stride.
void produce(const weft::Channel<std::uint64_t>& ch, std::uint64_t from, std::uint64_t to,
             std::uint64_t stride) {
  for (std::uint64_t v = from; v < to; v += stride) ch.send(v);
}

std::uint64_t consume(const weft::Channel<std::uint64_t>& ch) {
  std::uint64_t sum = 0;
  for (std::uint64_t v : ch) sum += v;
  return sum;
}

// channel_run() moves kChanOps values from `producers` to `consumers` fibers
// through one channel; producer i sends i, i + producers, ...
double channel_run(unsigned producers, unsigned consumers) {
  weft::Channel<std::uint64_t> ch(kCapacity);
  const auto t0 = Clock::now();
  std::vector<weft::JoinHandle<std::uint64_t>> rx;
  for (unsigned c = 1; c < consumers; ++c) rx.push_back(weft::spawn([ch] { return consume(ch); }));
  std::vector<weft::JoinHandle<void>> tx;
  for (unsigned p = 0; p < producers; ++p)
    tx.push_back(weft::spawn([ch, p, producers] { produce(ch, p, kChanOps, producers); }));
  // This fiber is a consumer too; it closes the channel once the producers are done.
  auto closer = weft::spawn([ch, tx = std::move(tx)]() mutable {
    for (auto& h : tx) h.join();
    ch.close();
  });
  std::uint64_t sum = consume(ch);
  for (auto& h : rx) sum += h.join();
  closer.join();
  const double s = seconds_since(t0);
  if (sum != sum_below(kChanOps)) fail("wrong sum of values received");
  return s;
}

double select2() {
  weft::Channel<std::uint64_t> a(kCapacity), b(kCapacity);
  const auto t0 = Clock::now();
  auto pa = weft::spawn([a] {
    produce(a, 0, kChanOps, 2);
    a.close();
  });
  auto pb = weft::spawn([b] {
    produce(b, 1, kChanOps, 2);
    b.close();
  });
  std::uint64_t sum = 0;
  bool a_open = true, b_open = true;
  auto take = [&sum](bool& open) {
    return [&sum, &open](std::optional<std::uint64_t> v) {
      if (v) {
        sum += *v;
      } else {
        open = false;
      }
    };
  };
  while (a_open && b_open)
    weft::select(weft::on_recv(a, take(a_open)), weft::on_recv(b, take(b_open)));
  sum += consume(a_open ? a : b);
  pa.join();
  pb.join();
  const double s = seconds_since(t0);
  if (sum != sum_below(kChanOps)) fail("select2: wrong sum of values received");
  return s;
}

double mutex_run() {
  weft::Mutex mu;
  std::uint64_t counter = 0;  // guarded by mu
  const auto t0 = Clock::now();
  std::vector<weft::JoinHandle<void>> hs;
  for (unsigned t = 0; t < kPeers; ++t) {
    hs.push_back(weft::spawn([&] {
      for (std::uint64_t i = 0; i < kMutexOps / kPeers; ++i) {
        std::lock_guard<weft::Mutex> g(mu);
        ++counter;
      }
    }));
  }
  for (auto& h : hs) h.join();
  const double s = seconds_since(t0);
  if (counter != kMutexOps) fail("mutex: wrong count");
  return s;
}

constexpr const char* kUsage =
    "usage: weft_chan_bench --bench chan_spsc|chan_mpsc|chan_mpmc|select2|mutex --threads N\n";

}  // namespace

int main(int argc, char** argv) {
  std::string bench;
  unsigned threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--bench") == 0) {
      bench = argv[i + 1];
    } else if (std::strcmp(argv[i], "--threads") == 0) {
      threads = static_cast<unsigned>(std::atoi(argv[i + 1]));
    } else {
      threads = 0;
      break;
    }
  }
  if (argc % 2 == 0 || threads == 0 || threads > 256) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::uint64_t ops = kChanOps;
  double (*body)() = nullptr;
  if (bench == "chan_spsc") {
    body = [] { return channel_run(1, 1); };
  } else if (bench == "chan_mpsc") {
    body = [] { return channel_run(kPeers, 1); };
  } else if (bench == "chan_mpmc") {
    body = [] { return channel_run(kPeers, kPeers); };
  } else if (bench == "select2") {
    body = select2;
  } else if (bench == "mutex") {
    body = mutex_run;
    ops = kMutexOps;
  } else {
    std::fputs(kUsage, stderr);
    return 2;
  }
  weft::Runtime rt(weft::Config{}.worker_threads(threads));
  const double seconds = rt.block_on(body);
  rt.shutdown();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "bench=%s impl=weft threads=%u ops=%llu seconds=%.4f ns_per_op=%.1f peak_rss_kb=%ld\n",
      bench.c_str(), threads, static_cast<unsigned long long>(ops), seconds,
      seconds * 1e9 / static_cast<double>(ops), ru.ru_maxrss);
  return 0;
}
