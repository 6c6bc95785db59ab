// The stack pool on its own, in a burst: it maps the next slab while the last
// still has stacks to give, so that workers drawing on it together do not all
// find it empty (and wait for one of them to map more); slabs keep to their
// series (8 MiB of stacks, then as many as all before, up to 64 MiB), one at a
// time however many threads take stacks; and every stack handed out is a
// distinct, writable one.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
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
  pool.configure(64 * 1024, weft::StackGuard::automatic, false, "test-prep", cpus);
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
  pool.configure(64 * 1024, weft::StackGuard::automatic, false, "test-prep", cpus);
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
