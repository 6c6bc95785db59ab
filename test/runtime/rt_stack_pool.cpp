// The stack pool on its own, in a burst: it maps the next slab while the last
// still has stacks to give, so that workers drawing on it together do not all
// find it empty (and wait for one of them to map more); slabs keep to their
// series (8 MiB of stacks, then as many as all before, up to 64 MiB), one at a
// time however many threads take stacks; every stack handed out is a
// distinct, writable one; and where idle workers prepare stacks, a burst
// calls for them once and then gets stacks whose top page is committed.
#include <doctest/doctest.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "cpu_plan.hpp"
#include "stack_pool.hpp"
#include "support.hpp"

using weft::detail::CpuPlan;
using weft::detail::Stack;
using weft::detail::StackCache;
using weft::detail::StackPool;
using weft_test::slab_series;

TEST_CASE("stack pool: a burst maps the next slab while half of one is still free") {
  CpuPlan cpus;
  cpus.plan(false, 1);
  StackPool pool;
  pool.configure(64 * 1024, weft::StackGuard::automatic, StackPool::Preparer::none, "test-prep", cpus);
  StackCache cache;
  std::vector<Stack> taken;
  constexpr std::size_t kTake = 3000;
  // Headroom: stacks carved and not handed out, after each acquire once the
  // burst is past its first few hundred.
  std::size_t least_headroom = ~std::size_t{0};
  for (std::size_t i = 0; i < kTake; ++i) {
    taken.push_back(pool.acquire(0, &cache));
    if (taken.size() >= 512) least_headroom = std::min(least_headroom, pool.reserved() - taken.size());
  }
  const std::size_t span = taken.back().usable() + (taken.back().guarded ? 4096 : 0);
  MESSAGE("slabs=" << pool.mappings() << " reserved=" << pool.reserved() << " least headroom=" << least_headroom);
  CHECK(pool.reserved() == slab_series(pool.mappings(), span));
  CHECK(pool.mappings() >= 4);
  // Grown only when empty, the headroom would fall to the worker cache's
  // batch (32) each time a slab ran out; ahead, it stays near half a slab.
  CHECK(least_headroom >= 100);
  // Distinct, and each one's top page writable.
  std::set<char*> tops;
  for (const Stack& s : taken) {
    tops.insert(s.hi);
    s.hi[-1] = 1;
  }
  CHECK(tops.size() == taken.size());
  for (const Stack& s : taken) pool.release(s, &cache);
  pool.flush(cache);
  CHECK(cache.taken.load() == 0);
}

TEST_CASE("stack pool: threads taking stacks together get distinct ones, from slabs in one series") {
  CpuPlan cpus;
  cpus.plan(false, 2);
  StackPool pool;
  pool.configure(64 * 1024, weft::StackGuard::automatic, StackPool::Preparer::none, "test-prep", cpus);
  constexpr unsigned kThreads = 4;
  constexpr std::size_t kEach = 1500;
  std::vector<std::vector<Stack>> taken(kThreads);
  std::vector<StackCache> caches(kThreads);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t i = 0; i < kEach; ++i) taken[t].push_back(pool.acquire(0, &caches[t]));
    });
  }
  for (auto& th : threads) th.join();
  std::set<char*> tops;
  for (auto& v : taken)
    for (const Stack& s : v) tops.insert(s.hi);
  CHECK(tops.size() == kThreads * kEach);
  CHECK(pool.reserved() >= kThreads * kEach);
  // One slab at a time, ahead of need or not: never one per thread.
  const std::size_t span = taken[0][0].usable() + (taken[0][0].guarded ? 4096 : 0);
  CHECK(pool.reserved() == slab_series(pool.mappings(), span));
  for (unsigned t = 0; t < kThreads; ++t) {
    for (const Stack& s : taken[t]) pool.release(s, &caches[t]);
    pool.flush(caches[t]);
  }
}

namespace {
// resident() is true when the page holding p is in memory.
bool resident(const char* p) {
  unsigned char v = 0;
  void* page = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(p) & ~std::uintptr_t{4095});
  return mincore(page, 4096, &v) == 0 && (v & 1) != 0;
}

// Burst is a pool of 64 KiB stacks with the given preparer, whose wake hook
// counts its calls, drawn on through one worker's cache. give_back() (or the
// end of the Burst) returns every stack taken.
struct Burst {
  CpuPlan cpus;
  StackPool pool;
  std::atomic<int> wakes{0};
  StackCache cache;
  std::vector<Stack> taken;

  explicit Burst(StackPool::Preparer prep) {
    cpus.plan(false, 2);
    pool.configure(64 * 1024, weft::StackGuard::automatic, prep, "test-prep", cpus, [this] { wakes.fetch_add(1); });
  }
  ~Burst() { give_back(); }
  const Stack& take() {
    taken.push_back(pool.acquire(0, &cache));
    return taken.back();
  }
  void give_back() {
    for (const Stack& s : taken) pool.release(s, &cache);
    taken.clear();
    pool.flush(cache);
  }
};
}  // namespace

TEST_CASE("stack pool: idle workers are called for once in a burst, and the stacks they prepare come committed") {
  Burst b(StackPool::Preparer::workers);
  StackPool& pool = b.pool;
  // A few hundred stacks are no burst: nobody is called.
  for (int i = 0; i < 200; ++i) b.take();
  CHECK_FALSE(pool.preparing_wanted());
  CHECK(b.wakes.load() == 0);
  // Past that, a spawner that faults its own stacks calls for help, once.
  while (!pool.preparing_wanted() && b.taken.size() < 2000) b.take();
  REQUIRE(pool.preparing_wanted());
  for (int i = 0; i < 100; ++i) b.take();
  CHECK(b.wakes.load() == 1);
  // What sits in the worker's cache was taken cold: never touched.
  REQUIRE_FALSE(b.cache.stacks.empty());
  CHECK_FALSE(resident(b.cache.stacks.back().hi - 1));
  // An idle worker's turns, a few stacks each, until enough are ready.
  const std::size_t slabs_before = pool.mappings();
  std::size_t turns = 0;
  while (pool.prepare_some()) {
    ++turns;
    REQUIRE(turns < 10000);
  }
  CHECK(turns >= 2);
  CHECK_FALSE(pool.preparing_wanted());
  const std::size_t prepared = pool.prepared();
  // They also mapped the next slabs while a whole one's worth was not free
  // (the spawner's acquire() would at half): a slab holds as many stacks as
  // all before it, up to 64 MiB of them.
  const std::size_t free_after = pool.reserved() - b.taken.size();
  const std::size_t span = b.taken.back().usable() + (b.taken.back().guarded ? 4096 : 0);
  MESSAGE("prepared=" << prepared << " in " << turns << " turns; free=" << free_after
                      << " reserved=" << pool.reserved() << " slabs=" << pool.mappings());
  CHECK(pool.mappings() > slabs_before);
  CHECK(free_after >= std::min(b.taken.size(), (std::size_t{64} << 20) / span));
  CHECK(prepared >= 64);
  CHECK(prepared <= 4096);
  // Past the cache, the next stacks handed out are those, top page in memory
  // though nothing here wrote to them.
  const std::size_t cached = b.cache.stacks.size();
  for (std::size_t i = 0; i < cached; ++i) b.take();
  for (int i = 0; i < 32; ++i) CHECK(resident(b.take().hi - 1));
  // Taking fewer than half of them calls nobody again.
  CHECK_FALSE(pool.preparing_wanted());
  CHECK(b.wakes.load() == 1);
  std::set<char*> tops;
  for (const Stack& s : b.taken) tops.insert(s.hi);
  CHECK(tops.size() == b.taken.size());
  b.give_back();
  CHECK(b.cache.taken.load() == 0);
}

TEST_CASE("stack pool: without a preparer, a burst calls for nobody and nothing is prepared") {
  Burst b(StackPool::Preparer::none);
  for (int i = 0; i < 2000; ++i) b.take();
  CHECK_FALSE(b.pool.preparing_wanted());
  CHECK_FALSE(b.pool.prepare_some());
  CHECK(b.pool.prepared() == 0);
  CHECK(b.wakes.load() == 0);
}
