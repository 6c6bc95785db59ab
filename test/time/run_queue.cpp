// RunQueue on one thread: pops come out oldest first, and peek_hint(i) names
// the item the (i+1)-th pop from now returns (what a worker prefetches for),
// or null past the newest, across the ring's wrap-around and after a steal.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "run_queue.hpp"

using weft::detail::RunQueue;

TEST_CASE("run_queue: peek_hint(i) is the item the (i+1)-th pop returns, null past the newest") {
  RunQueue<int> q;
  std::vector<int> items(3 * RunQueue<int>::kCapacity);
  CHECK(q.peek_hint() == nullptr);
  // Push and pop in turns so that the indices wrap around the ring.
  std::size_t next_push = 0, next_pop = 0;
  while (next_pop < items.size()) {
    for (int k = 0; k < 7 && next_push < items.size(); ++k) REQUIRE(q.push(&items[next_push++]));
    const std::size_t queued = next_push - next_pop;
    for (std::uint32_t i = 0; i < queued; ++i) REQUIRE(q.peek_hint(i) == &items[next_pop + i]);
    CHECK(q.peek_hint(static_cast<std::uint32_t>(queued)) == nullptr);
    for (int k = 0; k < 5 && next_pop < next_push; ++k) REQUIRE(q.pop() == &items[next_pop++]);
    if (next_push == items.size()) {
      while (next_pop < next_push) REQUIRE(q.pop() == &items[next_pop++]);
    }
  }
  CHECK(q.pop() == nullptr);
  CHECK(q.peek_hint() == nullptr);
}

TEST_CASE("run_queue: after a steal, peek_hint follows what the owner has left") {
  RunQueue<int> q, thief;
  std::vector<int> items(10);
  for (auto& it : items) REQUIRE(q.push(&it));
  // A steal takes the older half (rounded up) and hands one back to run.
  int* first = q.steal_into(thief);
  REQUIRE(first != nullptr);
  const std::uint32_t left = q.size_hint();
  REQUIRE(left == 5);
  for (std::uint32_t i = 0; i < left; ++i) CHECK(q.peek_hint(i) == &items[5 + i]);
  CHECK(q.peek_hint(left) == nullptr);
  for (std::uint32_t i = 0; i < left; ++i) CHECK(q.pop() == &items[5 + i]);
}
