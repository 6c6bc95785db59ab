// Shared pieces of weft_micro: the options of one run, what a benchmark reports,
// and the benchmark entry points (one file per group: micro_spawn.cpp,
// micro_channel.cpp, micro_time.cpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include <weft/config.hpp>

namespace weft::bench {

using Clock = std::chrono::steady_clock;

// Options are the command-line settings of one run.
struct Options {
  std::string bench;              // benchmark name
  unsigned threads = 1;           // worker threads (channel_pingpong: 2 = across threads)
  std::size_t stack_size = 0;     // bytes per fiber stack; 0 = Config's default
  std::uint64_t tasks = 100'000;  // idle_tasks: parked fibers
  bool pin = false;               // Config::pin_workers()

  // config() is the runtime configuration for `workers` worker threads.
  weft::Config config(unsigned workers) const {
    weft::Config c;
    c.worker_threads(workers);
    if (stack_size != 0) c.stack_size(stack_size);
    c.pin_workers(pin);
    return c;
  }
};

// Result is what a benchmark measured; main() prints it as the harness line.
struct Result {
  std::uint64_t ops = 0;  // operations timed
  double seconds = 0;     // wall time of those operations
  std::string extra;      // " key=value..." appended to the line
};

// seconds_since() is the wall time from t0 to now.
inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// cpu_seconds() is the CPU time (user and system) the process has used so far,
// all threads together.
double cpu_seconds();

// status_kb() reads a "Field: N kB" line of /proc/self/status (VmRSS, VmHWM); -1 if absent.
long status_kb(const char* field);

// fail() reports a wrong result and ends the process at once: the other side of a
// benchmark may be parked on a channel nobody will close, so an orderly shutdown
// could wait forever.
[[noreturn]] void fail(const char* what);

Result skynet(const Options& opt);
Result spawn_join(const Options& opt);
Result yield_pingpong(const Options& opt);
Result channel_pingpong(const Options& opt);
Result sleep_storm(const Options& opt);
Result idle_tasks(const Options& opt);

}  // namespace weft::bench
