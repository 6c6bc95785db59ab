// The task heap that spawned fibers' tasks come from: blocks are distinct,
// aligned and keep what is written in them; blocks freed on another thread
// than took them, and blocks a thread still caches when it ends, go back; the
// spans a burst mapped are unmapped once its blocks are freed; and tasks of
// every size and alignment, spawned in a burst on 1, 2 and 4 workers, come
// and go through it without a block left out.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "support.hpp"
#include "task_heap.hpp"

using weft::detail::task_heap_alloc;
using weft::detail::task_heap_blocks_out;
using weft::detail::task_heap_flush_thread;
using weft::detail::task_heap_free;
using weft::detail::task_heap_spans;

namespace {

// Each block holds its own index in every byte it was asked for, so a block
// handed out twice, or written past its end by a neighbour, shows.
struct Held {
  unsigned char* p;
  std::size_t n;
  unsigned char mark;
};

Held take(std::size_t n, std::size_t i) {
  auto* p = static_cast<unsigned char*>(task_heap_alloc(n));
  const auto mark = static_cast<unsigned char>(i * 31 + n);
  std::memset(p, mark, n);
  return {p, n, mark};
}

bool intact(const Held& h) {
  return std::all_of(h.p, h.p + h.n, [&](unsigned char c) { return c == h.mark; });
}

// baseline() flushes this thread's cache and reads what is then out.
std::size_t baseline() {
  task_heap_flush_thread();
  return task_heap_blocks_out();
}

}  // namespace

TEST_CASE("task heap blocks are distinct, 16-byte aligned and keep their contents") {
  const std::size_t out0 = baseline();
  std::vector<Held> held;
  for (std::size_t n : {1, 15, 16, 17, 48, 80, 96, 100, 200, 255, 256})
    for (std::size_t i = 0; i < 3000; ++i) held.push_back(take(n, i));
  for (const Held& h : held) {
    CHECK(reinterpret_cast<std::uintptr_t>(h.p) % 16 == 0);
    CHECK(intact(h));
  }
  std::vector<unsigned char*> addrs;
  for (const Held& h : held) addrs.push_back(h.p);
  std::sort(addrs.begin(), addrs.end());
  CHECK(std::adjacent_find(addrs.begin(), addrs.end()) == addrs.end());
  for (const Held& h : held) task_heap_free(h.p, h.n);
  CHECK(baseline() == out0);
}

TEST_CASE("a burst's spans are unmapped once its blocks are freed") {
  const std::size_t out0 = baseline();
  const std::size_t spans0 = task_heap_spans();
  std::vector<void*> blocks;
  for (int i = 0; i < 100'000; ++i) blocks.push_back(task_heap_alloc(96));
  // 100,000 blocks of 96 bytes fill more than 36 spans of 256 KiB.
  CHECK(task_heap_spans() >= spans0 + 36);
  for (void* p : blocks) task_heap_free(p, 96);
  CHECK(baseline() == out0);
  // One empty span per class may stay mapped for the next burst.
  CHECK(task_heap_spans() <= spans0 + 1);
}

TEST_CASE("blocks freed on other threads than took them all come back") {
  const std::size_t out0 = baseline();
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  constexpr int kPerRound = 256;
  // Each thread takes blocks of its own size and hands them to the next
  // thread, which checks and frees them: every block crosses a thread.
  std::mutex m;
  std::array<std::vector<Held>, kThreads> inbox;
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        std::vector<Held> mine;
        for (int i = 0; i < kPerRound; ++i) mine.push_back(take(32 + 48 * t, i + t));
        std::vector<Held> got;
        {
          std::lock_guard<std::mutex> g(m);
          auto& next = inbox[(t + 1) % kThreads];
          next.insert(next.end(), mine.begin(), mine.end());
          got.swap(inbox[t]);
        }
        for (const Held& h : got) {
          if (!intact(h)) bad.fetch_add(1);
          task_heap_free(h.p, h.n);
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  for (auto& box : inbox)
    for (const Held& h : box) {
      CHECK(intact(h));
      task_heap_free(h.p, h.n);
    }
  CHECK(bad.load() == 0);
  // The threads' own cached blocks went back when they ended.
  CHECK(baseline() == out0);
}

TEST_CASE("a thread's cached blocks go back when it ends") {
  const std::size_t out0 = baseline();
  std::size_t held_by_thread = 0;
  std::thread([&] {
    std::vector<void*> blocks;
    for (int i = 0; i < 1000; ++i) blocks.push_back(task_heap_alloc(64));
    for (void* p : blocks) task_heap_free(p, 64);
    // Freed but still cached by this thread: out of the central lists.
    held_by_thread = task_heap_blocks_out() - out0;
  }).join();
  CHECK(held_by_thread > 0);
  CHECK(baseline() == out0);
}

namespace {

struct alignas(64) Wide {
  std::array<std::uint64_t, 8> v{};
};

struct Big {
  std::array<std::uint64_t, 64> v{};  // 512 bytes: past the heap's largest block
};

}  // namespace

TEST_CASE("a burst of spawned tasks of every size goes through the task heap and back") {
  WEFT_WORKER_SUBCASES(n);
  const std::size_t out0 = baseline();
  const std::size_t spans0 = task_heap_spans();
  std::size_t out_mid = 0;
  std::uint64_t sum = 0;
  {
    weft::Runtime rt(weft_test::config(n));
    sum = rt.block_on([&] {
      constexpr int kEach = 5000;
      std::vector<weft::JoinHandle<std::uint64_t>> hs;
      for (int i = 0; i < kEach; ++i) {
        const std::uint64_t k = i;
        std::array<std::uint64_t, 20> pad{};  // a 160-byte capture
        pad[19] = k;
        Wide w;
        w.v[7] = k;
        Big b;
        b.v[63] = k;
        hs.push_back(weft::spawn([k] {
          weft::this_fiber::yield();
          return k;
        }));
        hs.push_back(weft::spawn([pad] {
          weft::this_fiber::yield();
          return pad[19];
        }));
        hs.push_back(weft::spawn([w] {
          weft::this_fiber::yield();
          // The capture keeps its alignment: the task came from the aligned form.
          return reinterpret_cast<std::uintptr_t>(&w) % alignof(Wide) == 0 ? w.v[7] : ~std::uint64_t{0};
        }));
        hs.push_back(weft::spawn([b] {
          weft::this_fiber::yield();
          return b.v[63];
        }));
      }
      out_mid = task_heap_blocks_out();
      std::uint64_t s = 0;
      for (auto& h : hs) s += h.join();
      return s;
    });
  }
  constexpr std::uint64_t kEach = 5000;
  CHECK(sum == 4 * (kEach * (kEach - 1) / 2));
  if (weft::detail::task_heap_serves_tasks()) {
    // The two small kinds, 10,000 tasks, were out at once (a sanitized build
    // gives tasks to the global allocator, which the sanitizer then watches).
    CHECK(out_mid >= out0 + 2 * kEach);
  }
  // The workers' cached blocks went back when they ended; this thread's now.
  CHECK(baseline() == out0);
  CHECK(task_heap_spans() <= spans0 + 2);
}
