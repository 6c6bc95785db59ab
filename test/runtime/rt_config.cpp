// Config and SpawnOptions: stack sizes that are really given to fibers, the
// documented resolution of defaults and small values, thread names, pinning,
// and what happens to values that cannot be honoured.
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>

#include "support.hpp"

using namespace weft_test;

namespace {

constexpr std::size_t kMiB = 1024 * 1024;

// use_stack() puts an array of N bytes on the stack and touches every byte
// of it, so a stack smaller than N faults (guard page) or corrupts memory.
template <std::size_t N>
[[gnu::noinline]] int use_stack(int seed) {
  char buf[N];
  std::memset(buf, seed, sizeof buf);
  asm volatile("" : : "r"(buf) : "memory");  // the stores must happen
  int sum = 0;
  for (std::size_t i = 0; i < N; i += 4096) sum += buf[i];
  return sum + buf[N - 1];
}

constexpr int kGaps = 400;

// gaps_cpu_ms() runs a fiber that reads kGaps bytes from a pipe one at a
// time, while a plain thread writes them 300 us apart, so the worker runs dry
// for longer than it spins before each. Returns the CPU time the process used
// meanwhile; every byte must arrive.
double gaps_cpu_ms(const weft::Config& cfg) {
  weft::Runtime rt(cfg);
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  weft::Async<weft::OwnedFd> in{weft::OwnedFd(fds[0])};
  weft::OwnedFd out(fds[1]);
  std::atomic<int> written{0};
  const auto cpu0 = cpu_time();
  std::thread writer([&] {
    for (int i = 0; i < kGaps; ++i) {
      std::this_thread::sleep_for(300us);  // the gap; the pipe carries the order
      if (::write(out.native_handle(), "x", 1) == 1) written.fetch_add(1);
    }
  });
  const int got = rt.block_on([&] {
    int n = 0;
    char c;
    while (n < kGaps) {
      std::error_code ec;
      auto r = in.read_with([&](weft::OwnedFd& fd) { return ::read(fd.native_handle(), &c, 1); }, ec,
                            weft::deadline_in(10s));
      if (ec || r != 1) break;
      ++n;
    }
    return n;
  });
  writer.join();
  const double cpu = std::chrono::duration<double, std::milli>(cpu_time() - cpu0).count();
  CHECK(written.load() == kGaps);
  CHECK(got == kGaps);
  return cpu;
}

}  // namespace

TEST_CASE("idle_spin: a lone worker parks at once when it runs dry, several spin 50 us, a set value always applies") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "idle spin");
  CHECK(weft::Config{}.idle_spin() == 50us);
  CHECK_FALSE(weft::Config{}.idle_spin_set());
  CHECK(weft::Config{}.idle_spin(0us).idle_spin_set());
  // Each gap spun costs the spin in CPU; a gap parked at once costs a
  // wake-up. Half the spin total is the margin, for a thread preempted while
  // it spins.
  const double by_default = gaps_cpu_ms(config(workers));
  if (workers == 1) {
    const double spinning = gaps_cpu_ms(config(workers).idle_spin(50us));
    CHECK_MESSAGE(spinning - by_default >= kGaps * 0.050 / 2,
                  "default " << by_default << " ms of CPU, idle_spin(50us) " << spinning << " ms");
  } else {
    const double parking = gaps_cpu_ms(config(workers).idle_spin(0us));
    CHECK_MESSAGE(by_default - parking >= kGaps * 0.050 / 2,
                  "default " << by_default << " ms of CPU, idle_spin(0us) " << parking << " ms");
  }
}

TEST_CASE("SpawnOptions::stack_size lets a fiber hold a 1 MiB local array") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "big stack per spawn");
  weft::Runtime rt(config(workers).stack_guard(weft::StackGuard::always));
  int expect = use_stack<kMiB>(1);  // the main thread's 8 MiB stack holds it
  auto h = rt.spawn(weft::SpawnOptions{"big-stack", 2 * kMiB}, [] {
    int a = use_stack<kMiB>(1);
    weft::this_fiber::yield();  // and still holds it after a park
    return a + use_stack<kMiB>(1);
  });
  CHECK(h.join() == 2 * expect);
  // spawn_local takes the same option.
  CHECK(rt.block_on([] {
    return weft::spawn_local(weft::SpawnOptions{"big-local", 2 * kMiB},
                             [] { return use_stack<kMiB>(1); })
        .join();
  }) == expect);
  // A large fiber among default ones: stacks of two sizes in one runtime.
  CHECK(rt.block_on([] {
    auto small = weft::spawn([] { return use_stack<16 * 1024>(1); });
    auto big = weft::spawn(weft::SpawnOptions{"", 2 * kMiB}, [] { return use_stack<kMiB>(1); });
    return small.join() > 0 && big.join() > 0;
  }));
}

TEST_CASE("Config::stack_size sets the default stack of every fiber") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "big default stack");
  weft::Runtime rt(config(workers).stack_size(2 * kMiB));
  int expect = use_stack<kMiB>(2);
  CHECK(rt.block_on([] { return use_stack<kMiB>(2); }) == expect);
  // SpawnOptions::stack_size 0 means the runtime's default, not zero.
  CHECK(rt.block_on([] {
    return weft::spawn(weft::SpawnOptions{"zero-means-default", 0},
                       [] { return use_stack<kMiB>(2); })
        .join();
  }) == expect);
}

// config.hpp says stacks are "at least 16 KiB"; the library enforces that by
// refusing smaller sizes (and sizes above 1 GiB) with std::invalid_argument,
// from the Runtime constructor for Config and from spawn for SpawnOptions.
TEST_CASE("stack sizes outside 16 KiB .. 1 GiB are refused with a clear error") {
  for (std::size_t bad : {std::size_t{0}, std::size_t{16 * 1024 - 1}, std::size_t{2} << 30,
                          SIZE_MAX}) {
    CAPTURE(bad);
    CHECK_THROWS_WITH_AS(weft::Runtime(config(1).stack_size(bad)),
                         doctest::Contains("stack size"), std::invalid_argument);
  }

  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "stack size bounds");
  weft::Runtime rt(config(workers).stack_size(16 * 1024).stack_guard(weft::StackGuard::always));
  int expect = use_stack<8 * 1024>(3);
  CHECK(rt.block_on([] { return use_stack<8 * 1024>(3); }) == expect);
  rt.block_on([] {
    for (std::size_t bad : {std::size_t{1}, std::size_t{2} << 30}) {
      CAPTURE(bad);
      CHECK_THROWS_AS(weft::spawn(weft::SpawnOptions{"bad-stack", bad}, [] {}),
                      std::invalid_argument);
    }
  });
  // A refused spawn leaves nothing behind (the block_on fiber's own stack
  // goes back a moment after it is joined, hence the bounded wait).
  CHECK(wait_until([&] { return rt.stats().live_fibers == 0; }, 2s));
  CHECK(wait_until([&] { return rt.stats().stacks_in_use == 0; }, 2s));
  // Odd sizes are rounded up to whole pages, not truncated.
  weft::Runtime odd(config(workers).stack_size(64 * 1024 + 1));
  CHECK(odd.block_on([] { return use_stack<48 * 1024>(3); }) > 0);
  CHECK(odd.block_on([] {
    return weft::spawn(weft::SpawnOptions{"odd", 32 * 1024 + 1},
                       [] { return use_stack<20 * 1024>(3); })
        .join();
  }) > 0);
}

TEST_CASE("a worker count above 1024 or an empty blocking pool is refused") {
  CHECK_THROWS_WITH_AS(weft::Runtime(config(1'000'000)), doctest::Contains("1000000"),
                       std::invalid_argument);
  CHECK_THROWS_AS(weft::Runtime(config(1025)), std::invalid_argument);
  CHECK_THROWS_WITH_AS(weft::Runtime(config(1).max_blocking_threads(0)),
                       doctest::Contains("max_blocking_threads"), std::invalid_argument);
  CHECK_THROWS_AS(weft::run(config(1'000'000), [] { return 1; }), std::invalid_argument);
}

TEST_CASE("worker_threads 0 means one worker per core") {
  weft::Runtime rt(weft::Config{});
  unsigned cores = std::thread::hardware_concurrency();
  CHECK(rt.worker_threads() == (cores ? cores : 1));
  CHECK(rt.config().worker_threads() == 0);  // the configuration as given
  Watchdog dog(30s, "default workers");
  rt.start();
  CHECK(wait_until([&] { return rt.stats().workers_running == rt.worker_threads(); }, 10s));
}

TEST_CASE("worker threads are named from thread_name_prefix") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "thread names");
  weft::Runtime rt(config(workers).thread_name_prefix("tw-"));
  for (int i = 0; i < 20; ++i) {
    auto [index, name] = rt.block_on([] {
      char buf[16] = {};
      pthread_getname_np(pthread_self(), buf, sizeof buf);
      return std::pair{weft::this_fiber::worker_index(), std::string(buf)};
    });
    CHECK(name == "tw-" + std::to_string(index));
  }
  std::string pool = rt.block_on([] {
    return weft::unblock([] {
      char buf[16] = {};
      pthread_getname_np(pthread_self(), buf, sizeof buf);
      return std::string(buf);
    });
  });
  CHECK(pool == "tw-b");
}

namespace {
// affinity_of() is the CPU set of thread tid of this process (0: the caller).
cpu_set_t affinity_of(long tid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(static_cast<pid_t>(tid), sizeof set, &set) != 0) CPU_ZERO(&set);
  return set;
}
}  // namespace

TEST_CASE("pin_workers pins each worker to one core") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "pinning");
  weft::Runtime rt(config(workers).pin_workers(true));
  std::vector<weft::JoinHandle<int>> hs;
  for (int i = 0; i < 50; ++i) {
    hs.push_back(rt.spawn([] {
      const cpu_set_t set = affinity_of(0);
      return CPU_COUNT(&set);
    }));
  }
  for (auto& h : hs) CHECK(h.join() == 1);
}

// Helper threads start on demand from worker threads, whose affinity they
// would inherit: on a pinned runtime they run on the cores no worker took
// (all of them when the workers took every one), not on one worker's core.
TEST_CASE("pin_workers keeps the blocking pool and the stack preparer off the pinned workers' cores") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "helper placement");
  const cpu_set_t allowed = affinity_of(0);
  weft::Runtime rt(config(workers).pin_workers(true).thread_name_prefix("pin-"));
  rt.block_on([&] {
    cpu_set_t expected = allowed;
    for (unsigned i = 0; i < workers; ++i) {
      // A worker names itself, then pins itself, as its thread starts.
      cpu_set_t mine;
      CPU_ZERO(&mine);
      REQUIRE(fiber_wait_until(
          [&] {
            const auto tids = thread_ids_named("pin-" + std::to_string(i));
            if (tids.size() == 1) mine = affinity_of(tids[0]);
            return CPU_COUNT(&mine) == 1;
          },
          10s));
      for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &mine)) CPU_CLR(cpu, &expected);
    }
    if (CPU_COUNT(&expected) == 0) expected = allowed;
    CAPTURE(CPU_COUNT(&allowed));
    CAPTURE(CPU_COUNT(&expected));

    // From a fiber on a pinned worker, so its thread starts there.
    const cpu_set_t blocking = weft::unblock([] { return affinity_of(0); });
    CHECK(CPU_EQUAL(&blocking, &expected));

    // A burst of parked fibers starts the preparer where a core is spare.
    if (workers >= usable_cpus()) return;
    weft::Event go;
    auto hs = park_burst(4096, go);
    // Its name is set once it is placed.
    CHECK(fiber_wait_until([] { return threads_named("pin-s") == 1; }, 10s));
    for (long tid : thread_ids_named("pin-s")) {
      const cpu_set_t prep = affinity_of(tid);
      CHECK(CPU_EQUAL(&prep, &expected));
    }
    go.set();
    for (auto& h : hs) h.join();
  });
}
