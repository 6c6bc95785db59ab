// spawn_demo: a tree of 111,111 fibers on a weft runtime. Every node spawns ten
// children and joins them; the 100,000 leaves do a little of everything a fiber
// does: some sleep, some run a blocking call through weft::unblock(), some yield.
// It prints how many fibers ran, on which workers, how fast, and what the
// runtime kept for them.
//
// usage: spawn_demo [--threads N]   (default: one worker per core)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

namespace {

using namespace std::chrono_literals;

// Tally counts what the fibers did; every field is shared by all workers.
struct Tally {
  explicit Tally(unsigned workers) : per_worker(workers) {}
  std::vector<std::atomic<std::uint64_t>> per_worker;  // fibers started on each worker
  std::atomic<std::uint64_t> slept{0}, unblocked{0}, yielded{0};
  std::atomic<std::int64_t> live{0}, peak_live{0};  // fibers inside node() right now, and the most
};

// LiveScope counts a fiber as live while it runs node().
struct LiveScope {
  Tally& t;
  explicit LiveScope(Tally& tally) : t(tally) {
    const std::int64_t now = t.live.fetch_add(1, std::memory_order_relaxed) + 1;
    std::int64_t peak = t.peak_live.load(std::memory_order_relaxed);
    while (now > peak && !t.peak_live.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
  ~LiveScope() { t.live.fetch_sub(1, std::memory_order_relaxed); }
};

// leaf_work() is what leaf number i does before it returns i.
std::uint64_t leaf_work(std::uint64_t i, Tally& t) {
  if (i % 100 == 0) {  // 1%: sleep on a timer
    weft::this_fiber::sleep_for(1ms);
    t.slept.fetch_add(1, std::memory_order_relaxed);
  } else if (i % 1000 == 7) {  // 0.1%: a call that blocks its thread, kept off the workers
    weft::unblock([] { std::this_thread::sleep_for(200us); });
    t.unblocked.fetch_add(1, std::memory_order_relaxed);
  } else if (i % 10 == 3) {  // 10%: let the others of this worker run first
    weft::this_fiber::yield();
    t.yielded.fetch_add(1, std::memory_order_relaxed);
  }
  return i;
}

// node() covers the leaves [first, first + size): a leaf works, an inner node
// spawns ten children over its range and returns the sum of their results.
std::uint64_t node(std::uint64_t first, std::uint64_t size, Tally& t) {
  LiveScope live(t);
  const int w = weft::this_fiber::worker_index();
  if (w >= 0) t.per_worker[w].fetch_add(1, std::memory_order_relaxed);
  if (size == 1) return leaf_work(first, t);
  const std::uint64_t sub = size / 10;
  weft::JoinHandle<std::uint64_t> children[10];
  for (std::uint64_t i = 0; i < 10; i++) {
    children[i] = weft::spawn([first, i, sub, &t] { return node(first + i * sub, sub, t); });
  }
  std::uint64_t sum = 0;
  for (auto& c : children) sum += c.join();
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned threads = 0;  // 0: one worker per core
  if (argc == 3 && std::strcmp(argv[1], "--threads") == 0 && std::atoi(argv[2]) > 0) {
    threads = unsigned(std::atoi(argv[2]));
  } else if (argc != 1) {
    std::fprintf(stderr, "usage: spawn_demo [--threads N]\n");
    return 2;
  }

  constexpr std::uint64_t kLeaves = 100'000;
  weft::Runtime rt(weft::Config{}.worker_threads(threads));
  rt.start();
  auto tally = std::make_unique<Tally>(rt.worker_threads());

  const auto t0 = std::chrono::steady_clock::now();
  const std::uint64_t sum = rt.block_on([&] { return node(0, kLeaves, *tally); });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const weft::RuntimeStats stats = rt.stats();

  std::uint64_t fibers = 0;
  for (auto& c : tally->per_worker) fibers += c.load();
  if (sum != kLeaves * (kLeaves - 1) / 2) {
    std::fprintf(stderr, "spawn_demo: wrong sum %llu\n", static_cast<unsigned long long>(sum));
    return 1;
  }

  std::printf("weft spawn_demo: %u workers\n", rt.worker_threads());
  std::printf("  fibers run:      %llu (%llu leaves: %llu slept, %llu unblocked, %llu yielded)\n",
              static_cast<unsigned long long>(fibers), static_cast<unsigned long long>(kLeaves),
              static_cast<unsigned long long>(tally->slept.load()),
              static_cast<unsigned long long>(tally->unblocked.load()),
              static_cast<unsigned long long>(tally->yielded.load()));
  std::printf("  per worker:     ");
  for (std::size_t w = 0; w < tally->per_worker.size(); w++) {
    std::printf(" w%zu=%llu", w, static_cast<unsigned long long>(tally->per_worker[w].load()));
  }
  std::printf("\n  elapsed:         %.3f s (%.0f fibers/s)\n", secs, double(fibers) / secs);
  std::printf("  peak live:       %lld fibers\n", static_cast<long long>(tally->peak_live.load()));
  std::printf("  stacks reserved: %zu in %zu mappings; %zu steals, %zu parks\n",
              stats.stacks_reserved, stats.stack_mappings, stats.steals, stats.parks);
  return 0;
}
