// Memory after a burst. Fibers that end are kept for later spawns to reuse,
// but those no spawn needed for half a second end, beyond 32 a worker. Their
// stacks go back to the pool, which gives the pages of all but a few
// thousand back to the system once the burst is over (half a second), off
// the workers' path (the runtime's monitor trims the pool).
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <weft/sync/event.hpp>

#include "support.hpp"

using namespace weft_test;

namespace {

// rss_kb() is the process's resident memory in KiB, from /proc/self/status.
long rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

constexpr std::size_t kTouch = 48 * 1024;  // stack bytes each fiber writes

// touch_stack() writes kTouch bytes of the calling fiber's stack, so that
// they are resident when it parks.
__attribute__((noinline)) void touch_stack(std::atomic<std::size_t>& sink) {
  volatile char buf[kTouch];
  for (std::size_t i = 0; i < kTouch; i += 1024) buf[i] = static_cast<char>(i);
  sink.fetch_add(buf[kTouch - 1024], std::memory_order_relaxed);
}

}  // namespace

TEST_CASE("stacks left behind by a burst of 8,192 fibers give most of their memory back") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "stack trim");
  constexpr std::size_t kFibers = 8192;
  weft::Runtime rt(config(workers).stack_size(64 * 1024));
  rt.start();
  const long base = rss_kb();
  REQUIRE(base > 0);

  weft::Event go;
  std::atomic<std::size_t> parked{0}, sink{0};
  std::vector<weft::JoinHandle<void>> hs;
  hs.reserve(kFibers);
  for (std::size_t i = 0; i < kFibers; ++i) {
    hs.push_back(rt.spawn([&] {
      touch_stack(sink);
      parked.fetch_add(1, std::memory_order_relaxed);
      go.wait();
    }));
  }
  REQUIRE(wait_until([&] { return parked.load() == kFibers; }, 60s));
  const long peak = rss_kb();
  // Every fiber's touched pages are resident (most of 8,192 x 48 KiB).
  CHECK(peak - base >= static_cast<long>(kFibers * kTouch / 1024) * 3 / 4);
  go.set();
  for (auto& h : hs) h.join();

  // The pool keeps a few thousand stacks warm (4,096, plus each worker's
  // private few); the pages of most of the rest, over 2,000 x 48 KiB, go back.
  const long expect_back = 2000L * static_cast<long>(kTouch / 1024);
  long now = peak;
  CHECK(wait_until([&] { return (now = rss_kb()) <= peak - expect_back; }, 10s));
  MESSAGE("workers=" << workers << " base=" << base << " KiB, peak=" << peak << " KiB, after=" << now << " KiB");
  CHECK(rt.stats().stacks_in_use == 0);
}

TEST_CASE("fibers a burst leaves for reuse end once unneeded, beyond 32 a worker, and a new burst still runs") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "spare fibers");
  constexpr std::size_t kFibers = 2000;
  weft::Runtime rt(config(workers));
  rt.start();
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    burst(rt, kFibers);
    // Just after the burst its fibers are kept: none has gone unneeded for a
    // whole window yet.
    const std::size_t kept = rt.stats().spare_fibers;
    CHECK(kept >= kFibers / 2);
    std::size_t left = kept;
    const std::size_t keep = 32 * rt.stats().workers_running;
    CHECK(wait_until([&] { return (left = rt.stats().spare_fibers) <= keep; }, 10s));
    MESSAGE("workers=" << workers << " kept=" << kept << " left=" << left << " keep=" << keep);
    // The last batch ends a moment later; until then its stacks count as used.
    CHECK(wait_until([&] { return rt.stats().stacks_in_use == 0; }, 2s));
    CHECK(rt.stats().live_fibers == 0);
  }
}

// With several workers, fibers often end on a worker other than the one that
// spawned them (woken there, or stolen). The spawning worker then has no
// spares of its own; it should get the others' rather than build new fibers
// (each a fresh stack) while theirs wait to be trimmed.
TEST_CASE("a worker that spawns reuses the fibers that ended on other workers") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "spares passed on");
  constexpr std::size_t kFibers = 1000;
  weft::Runtime rt(config(workers));
  rt.block_on([&] {
    // Round 1: kFibers fibers park; a setter on another worker releases them,
    // so they run to their end there. The spawner yields meanwhile, keeping
    // its worker busy.
    weft::Event go;
    std::atomic<std::size_t> parked{0}, ended{0};
    std::vector<weft::JoinHandle<void>> hs;
    for (std::size_t i = 0; i < kFibers; ++i) {
      hs.push_back(weft::spawn([&] {
        parked.fetch_add(1);
        go.wait();
        ended.fetch_add(1);
      }));
    }
    // Each ran to its wait at its spawn. With other workers, one whose thread
    // stalls right after starting its new fiber lets another take the
    // spawner, which may spawn the rest before that fiber counts itself.
    if (workers == 1) REQUIRE(parked.load() == kFibers);
    else REQUIRE(fiber_wait_until([&] { return parked.load() == kFibers; }, 10s));
    SetElsewhere setter(go, weft::this_fiber::worker_index(), 2s);
    REQUIRE(fiber_wait_until([&] { return ended.load() == kFibers; }, 30s));
    for (auto& h : hs) h.join();
    setter.join();
    hs.clear();
    // Round 2: as many fibers again, all alive at once, reusing round 1's:
    // the spares left afterwards are only those other workers keep for
    // themselves (SpareFibers::kKeep each) and a few built ahead. The count
    // of spares tells, where the stacks reserved would not: a pool that
    // grows maps a whole slab (up to 496 stacks) for a single stack more
    // than its last slab had left. The spawner is pinned to its worker: a
    // worker keeps the spares it takes, so a spawner that an idle worker
    // took over midway (a loaded machine stalls its thread) would leave
    // them behind and build afresh where it landed.
    weft::Event go2;
    std::size_t before = 0, after = 0, grown = 0;
    weft::spawn_local([&] {
      const std::size_t reserved = rt.stats().stacks_reserved;
      before = rt.stats().spare_fibers;
      for (std::size_t i = 0; i < kFibers; ++i) hs.push_back(weft::spawn([&] { go2.wait(); }));
      after = rt.stats().spare_fibers;
      grown = rt.stats().stacks_reserved - reserved;
    }).join();
    MESSAGE("workers=" << workers << " spares before round 2: " << before << ", after: " << after
                       << "; stacks reserved for it: " << grown);
    CHECK(before >= kFibers);
    CHECK(after < kFibers / 4);
    go2.set();
    for (auto& h : hs) h.join();
  });
  CHECK(wait_until([&] { return rt.stats().live_fibers == 0 && rt.stats().stacks_in_use == 0; }, 5s));
}

// Workers that run out of stacks at the same moment wait for the one slab
// being mapped rather than each mapping another (two slabs of up to 496
// stacks for a need of one more): the slabs keep to the series above
// however many workers spawn at once.
TEST_CASE("workers that run out of stacks together map one slab, not one each") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "slab growth");
  constexpr std::size_t kEach = 1500;
  weft::Runtime rt(config(workers));
  rt.block_on([&] {
    weft::Event go;
    std::atomic<unsigned> arrived{0};
    std::atomic<std::size_t> parked{0};
    std::vector<std::vector<weft::JoinHandle<void>>> hs(workers);
    std::vector<weft::JoinHandle<void>> spawners;
    for (unsigned w = 0; w < workers; ++w) {
      spawners.push_back(weft::spawn([&, w] {
        // Yield rather than park until all are there: runnable, they spread
        // over the workers, and then all spawn at once.
        arrived.fetch_add(1);
        const auto until = Clock::now() + 2s;
        while (arrived.load() < workers && Clock::now() < until) weft::this_fiber::yield();
        for (std::size_t i = 0; i < kEach; ++i)
          hs[w].push_back(weft::spawn([&] {
            parked.fetch_add(1);
            go.wait();
          }));
      }));
    }
    for (auto& s : spawners) s.join();
    REQUIRE(fiber_wait_until([&] { return parked.load() == workers * kEach; }, 20s));
    go.set();
    for (auto& v : hs)
      for (auto& h : v) h.join();
  });
  // Stacks 128 KiB apart, or 132 KiB with a guard page each. The stack
  // preparer may be mapping one more slab meanwhile (it keeps some stacks
  // ready): the two counts agree once it is done.
  const std::size_t stack = weft::Config{}.stack_size();
  weft::RuntimeStats s;
  const bool series = wait_until(
      [&] {
        s = rt.stats();
        return s.stacks_reserved == slab_series(s.stack_mappings, stack) ||
               s.stacks_reserved == slab_series(s.stack_mappings, stack + 4096);
      },
      5s);
  MESSAGE("workers=" << workers << " slabs=" << s.stack_mappings << " stacks reserved=" << s.stacks_reserved);
  CHECK(s.stacks_reserved >= workers * kEach);
  CHECK(series);
}

// A spawn that finds no fiber to reuse builds one, at the cost of a fresh
// stack; an idle worker then builds the next ones ahead, so that later spawns
// find them ready. Those nobody takes end like any spare: at trimming, or at
// shutdown, never having run.
TEST_CASE("once a spawn had no fiber to reuse, idle workers build some ahead, and the next spawns take them") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "fibers built ahead");
  constexpr std::size_t kAhead = 64;  // Worker::kBuildAhead
  constexpr std::size_t kTaken = 40;  // spawned next: the rest stay unused
  weft::Runtime rt(config(workers));
  rt.block_on([&] {
    weft::Event go;
    std::atomic<std::size_t> parked{0};
    auto park = [&] {
      parked.fetch_add(1);
      go.wait();
    };
    std::vector<weft::JoinHandle<void>> hs;
    REQUIRE(rt.stats().spare_fibers == 0);
    hs.push_back(weft::spawn(park));  // built: there was nothing to reuse
    // The spawner sleeps, so every worker is idle (it wakes on the next tick).
    std::size_t ahead = 0;
    const auto until = Clock::now() + 5s;
    while ((ahead = rt.stats().spare_fibers) < kAhead && Clock::now() < until)
      weft::this_fiber::sleep_for(1ms);
    MESSAGE("workers=" << workers << " built ahead: " << ahead);
    // Each builder stops once it sees kAhead: a few more when several raced.
    CHECK(ahead >= kAhead);
    CHECK(ahead < kAhead + workers);
    const auto before = rt.stats();
    for (std::size_t i = 0; i < kTaken; ++i) hs.push_back(weft::spawn(park));
    // Each ran at its spawn, as a new fiber does (with other workers, a stalled
    // thread may count its fiber a moment later, as in the case above).
    if (workers == 1) CHECK(parked.load() == kTaken + 1);
    else CHECK(fiber_wait_until([&] { return parked.load() == kTaken + 1; }, 10s));
    const auto after = rt.stats();
    CHECK(after.stacks_in_use == before.stacks_in_use + kTaken);
    CHECK(after.spare_fibers + kTaken <= before.spare_fibers + workers);  // taken, not built
    go.set();
    for (auto& h : hs) h.join();
  });
  // Past a window unused, spares beyond 32 a worker end, those built ahead
  // included; the rest end at shutdown.
  CHECK(wait_until([&] { return rt.stats().spare_fibers <= 32 * workers; }, 5s));
  rt.shutdown();
  const auto s = rt.stats();
  CHECK(s.spare_fibers == 0);
  CHECK(s.live_fibers == 0);
  CHECK(s.stacks_in_use == 0);
}

// A fiber's first run faults in its stack's top page. A burst of spawns that
// reuses nothing has those pages committed ahead of the spawns: where a CPU is
// left over by the workers, by a thread of the stack pool ("<prefix>s") that
// starts at the first burst, stops with the runtime, and starts again with it;
// otherwise, with two workers or more, by the workers the burst leaves idle.
// A lone worker with no CPU to spare has nobody to do it.
TEST_CASE("a burst of spawns has its stacks' first pages committed ahead: by a thread where a CPU is spare, "
          "else by idle workers") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "stack preparer");
  constexpr std::size_t kFibers = 4096;
  const bool spare_cpu = workers < usable_cpus();
  const bool prepared_by_workers = !spare_cpu && workers >= 2;
  weft::Runtime rt(config(workers).thread_name_prefix("prep-"));
  std::size_t prepared = 0;
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    REQUIRE(threads_named("prep-s") == 0);
    rt.block_on([&] {
      weft::Event go;
      auto hs = park_burst(kFibers, go);
      if (spare_cpu || prepared_by_workers) {
        CHECK(fiber_wait_until([&] { return rt.stats().stacks_prepared > prepared; }, 10s));
        CHECK(threads_named("prep-s") == (spare_cpu ? 1 : 0));
      } else {
        CHECK(rt.stats().stacks_prepared == 0);
        CHECK(threads_named("prep-s") == 0);
      }
      go.set();
      for (auto& h : hs) h.join();
    });
    const auto s = rt.stats();
    MESSAGE("workers=" << workers << " cpus=" << usable_cpus() << " prepared=" << s.stacks_prepared
                       << " reserved=" << s.stacks_reserved);
    // The count goes on across restarts; the stacks are this round's.
    CHECK(s.stacks_prepared - prepared <= s.stacks_reserved);
    prepared = s.stacks_prepared;
    rt.shutdown();
    // Joined at shutdown (a joined thread's entry may linger a moment).
    CHECK(wait_until([] { return threads_named("prep-s") == 0; }, 5s));
    CHECK(rt.stats().stacks_in_use == 0);
  }
}
