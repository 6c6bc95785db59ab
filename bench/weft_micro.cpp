// weft_micro: weft's side of the scheduler microbenchmarks in shared/peers/micro.
// Each run prints one line in the harness format:
//   bench=<name> impl=weft threads=<n> ops=<N> seconds=<t> ns_per_op=<x> peak_rss_kb=<k> [extra]
// The benchmarks do the same work as the Go, Tokio and Boost.Fiber peers so the
// lines compare: same operation counts, same checks, timing taken inside the
// runtime (in the fiber that runs the benchmark body).
//
// usage: weft_micro --bench NAME --threads N [--stack-kb K] [--tasks N]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include <sys/resource.h>

#include "micro.hpp"

namespace weft::bench {

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return double(tv.tv_sec) + double(tv.tv_usec) * 1e-6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

long status_kb(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  const std::size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') {
      v = std::atol(line + n + 1);
      break;
    }
  }
  std::fclose(f);
  return v;
}

void fail(const char* what) {
  std::fprintf(stderr, "weft_micro: %s\n", what);
  std::fflush(stderr);
  std::_Exit(1);
}

}  // namespace weft::bench

namespace {

using weft::bench::Options;
using weft::bench::Result;

constexpr const char* kUsage =
    "usage: weft_micro --bench skynet|spawn_join|yield_pingpong|channel_pingpong|"
    "sleep_storm|idle_tasks --threads N [--stack-kb K] [--tasks N] [--pin 0|1]\n";

// parse_count() reads a positive decimal number; 0 on anything else.
std::uint64_t parse_count(const char* s) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  return (end == s || *end != '\0' || s[0] == '-') ? 0 : v;
}

// parse() fills opt from argv; false on an unknown option or a bad value.
bool parse(int argc, char** argv, Options& opt) {
  if (argc % 2 == 0) return false;  // options come in pairs
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const std::uint64_t v = parse_count(argv[i + 1]);
    if (a == "--bench") {
      opt.bench = argv[i + 1];
    } else if (a == "--threads" && v > 0 && v <= 1024) {
      opt.threads = unsigned(v);
    } else if (a == "--stack-kb" && v > 0 && v <= (1u << 20)) {
      opt.stack_size = std::size_t(v) * 1024;
    } else if (a == "--tasks" && v > 0) {
      opt.tasks = v;
    } else if (a == "--pin" && (std::string(argv[i + 1]) == "0" || std::string(argv[i + 1]) == "1")) {
      opt.pin = argv[i + 1][0] == '1';
    } else {
      return false;
    }
  }
  return true;
}

Result run(const Options& opt) {
  namespace b = weft::bench;
  if (opt.bench == "skynet") return b::skynet(opt);
  if (opt.bench == "spawn_join") return b::spawn_join(opt);
  if (opt.bench == "yield_pingpong") return b::yield_pingpong(opt);
  if (opt.bench == "channel_pingpong") return b::channel_pingpong(opt);
  if (opt.bench == "sleep_storm") return b::sleep_storm(opt);
  return b::idle_tasks(opt);
}

bool known(const std::string& name) {
  for (const char* n : {"skynet", "spawn_join", "yield_pingpong", "channel_pingpong", "sleep_storm",
                        "idle_tasks"}) {
    if (name == n) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse(argc, argv, opt) || !known(opt.bench)) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  Result r;
  try {
    r = run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft_micro: %s: %s\n", opt.bench.c_str(), e.what());
    return 1;
  }
  std::printf(
      "bench=%s impl=weft threads=%u ops=%llu seconds=%.4f ns_per_op=%.1f peak_rss_kb=%ld%s\n",
      opt.bench.c_str(), opt.threads, static_cast<unsigned long long>(r.ops), r.seconds,
      r.seconds * 1e9 / double(r.ops), weft::bench::status_kb("VmHWM"), r.extra.c_str());
  return 0;
}
