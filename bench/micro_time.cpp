// Timers and parked fibers: sleep_storm (100k fibers sleeping a random 0-100 ms,
// lateness measured) and idle_tasks (fibers parked on a channel, RSS per fiber).
//
// sleep_storm also reports when the last fiber had started (spawned_ms: a
// spawn runs its fiber at once, up to its sleep) and the process's CPU time
// over the run (cpu_ms). The run cannot end before spawned_ms plus the
// longest sleep (100 ms), however little CPU it takes: cpu_ms against
// seconds tells how much of the wall time was work and how much that tail.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include <boost/fiber/unbuffered_channel.hpp>

#include <weft/weft.hpp>

#include "micro.hpp"

namespace weft::bench {

Result sleep_storm(const Options& opt) {
  weft::Runtime rt(opt.config(opt.threads));
  return rt.block_on([] {
    Result r;
    r.ops = 100'000;
    std::vector<double> late(r.ops);  // microseconds past the asked wake-up
    std::vector<weft::JoinHandle<void>> handles;
    handles.reserve(r.ops);
    // Same durations as the Boost.Fiber peer: mt19937_64 seeded 42, 0-100 ms in ns.
    std::mt19937_64 rng(42);
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < r.ops; i++) {
      const auto d = std::chrono::nanoseconds(rng() % 100'000'000);
      handles.push_back(weft::spawn([&late, i, d] {
        const auto asked = Clock::now();
        weft::this_fiber::sleep_for(d);
        late[i] = std::chrono::duration<double, std::micro>(Clock::now() - asked - d).count();
      }));
    }
    const double spawned = seconds_since(t0);
    for (auto& h : handles) h.join();
    r.seconds = seconds_since(t0);
    const double cpu = cpu_seconds() - cpu0;
    std::sort(late.begin(), late.end());
    char buf[160];
    std::snprintf(buf, sizeof buf, " p50_late_us=%.0f p99_late_us=%.0f max_late_us=%.0f spawned_ms=%.0f cpu_ms=%.0f",
                  late[r.ops / 2], late[r.ops * 99 / 100], late[r.ops - 1], spawned * 1e3, cpu * 1e3);
    r.extra = buf;
    return r;
  });
}

Result idle_tasks(const Options& opt) {
  weft::Runtime rt(opt.config(opt.threads));
  const std::uint64_t n = opt.tasks;
  return rt.block_on([n] {
    Result r;
    r.ops = n;
    // Measured with the runtime running, so only the fibers' growth counts.
    const long before = status_kb("VmRSS");
    boost::fibers::unbuffered_channel<int> ch;
    std::atomic<std::uint64_t> started{0};
    std::vector<weft::JoinHandle<void>> handles;
    handles.reserve(n);
    const auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < n; i++) {
      handles.push_back(weft::spawn([&ch, &started] {
        started.fetch_add(1, std::memory_order_relaxed);
        int v;
        ch.pop(v);  // returns channel_op_status::closed once the channel is closed
      }));
    }
    while (started.load(std::memory_order_relaxed) < n) weft::this_fiber::yield();
    r.seconds = seconds_since(t0);
    // Let the last fibers reach the receive before reading RSS.
    weft::this_fiber::sleep_for(std::chrono::milliseconds(10));
    const long parked = status_kb("VmRSS");
    ch.close();
    for (auto& h : handles) h.join();
    char buf[64];
    std::snprintf(buf, sizeof buf, " rss_per_task_b=%.0f",
                  double(parked - before) * 1024.0 / double(n));
    r.extra = buf;
    return r;
  });
}

}  // namespace weft::bench
