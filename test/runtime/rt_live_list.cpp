// LiveList, the table of a runtime's live fibers that shutdown walks: every
// fiber put in is visited until it is taken out, slots freed are reused
// before the table grows, a claim given back is never visited, and threads
// that come and go at once lose nothing.
#include <doctest/doctest.h>

#include <cstdint>
#include <deque>
#include <set>
#include <thread>
#include <vector>

#include "live_list.hpp"

using weft::detail::FiberRecord;
using weft::detail::LiveList;

namespace {

// records() makes n records that belong to no runtime: the list only stores
// their addresses and writes their slot fields.
std::deque<FiberRecord> records(std::size_t n) {
  std::deque<FiberRecord> out;
  for (std::size_t i = 0; i < n; ++i) out.emplace_back(nullptr, nullptr, nullptr, weft::detail::Stack{}, 0);
  return out;
}

std::set<FiberRecord*> visited(LiveList& list) {
  std::set<FiberRecord*> seen;
  list.for_each([&](FiberRecord* r) { CHECK(seen.insert(r).second); });
  return seen;
}

}  // namespace

TEST_CASE("every fiber put in is visited until taken out, across chunks") {
  LiveList list;
  auto recs = records(1500);  // three chunks of 512 slots
  for (auto& r : recs) list.fill(list.claim(), &r);
  CHECK(list.size() == recs.size());
  CHECK(visited(list).size() == recs.size());

  std::set<FiberRecord*> kept;
  for (std::size_t i = 0; i < recs.size(); ++i) {
    if (i % 2) {
      list.remove(&recs[i]);
    } else {
      kept.insert(&recs[i]);
    }
  }
  CHECK(list.size() == kept.size());
  CHECK(visited(list) == kept);

  for (auto* r : kept) list.remove(r);
  CHECK(list.size() == 0);
  CHECK(visited(list).empty());
}

TEST_CASE("freed slots are reused, the most recent first, before the table grows") {
  LiveList list;
  auto recs = records(600);
  std::vector<std::uint32_t> slots;
  for (auto& r : recs) {
    slots.push_back(list.claim());
    list.fill(slots.back(), &r);
  }
  // Slots are handed out in order from a fresh chunk.
  for (std::size_t i = 0; i < slots.size(); ++i) CHECK(slots[i] == i);

  list.remove(&recs[10]);
  list.remove(&recs[20]);
  CHECK(list.claim() == 20);
  CHECK(list.claim() == 10);
  // What follows comes from where the table ended.
  CHECK(list.claim() == 600);
}

TEST_CASE("a claim given back is never visited and is reused") {
  LiveList list;
  auto recs = records(2);
  list.fill(list.claim(), &recs[0]);
  const std::uint32_t slot = list.claim();
  // Claimed, not filled: not a fiber yet, and not counted.
  CHECK(list.size() == 1);
  CHECK(visited(list) == std::set<FiberRecord*>{&recs[0]});
  list.unclaim(slot);
  CHECK(list.claim() == slot);
}

TEST_CASE("threads that put in and take out at once lose nothing") {
  LiveList list;
  constexpr int kThreads = 4;
  constexpr std::size_t kPerThread = 2000;
  constexpr int kRounds = 20;
  std::vector<std::deque<FiberRecord>> mine;
  for (int t = 0; t < kThreads; ++t) mine.push_back(records(kPerThread));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&list, &recs = mine[t]] {
      for (int round = 0; round < kRounds; ++round) {
        for (auto& r : recs) list.fill(list.claim(), &r);
        // Take out in another order than put in.
        for (std::size_t i = 0; i < recs.size(); i += 2) list.remove(&recs[i]);
        for (std::size_t i = 1; i < recs.size(); i += 2) list.remove(&recs[i]);
      }
      for (auto& r : recs) list.fill(list.claim(), &r);
    });
  }
  for (auto& th : threads) th.join();
  CHECK(list.size() == kThreads * kPerThread);
  const auto seen = visited(list);
  CHECK(seen.size() == kThreads * kPerThread);
  for (auto& recs : mine) {
    for (auto& r : recs) CHECK(seen.count(&r) == 1);
  }
  // No slot serves two fibers.
  std::set<std::uint32_t> slots;
  for (auto* r : seen) CHECK(slots.insert(r->live_slot).second);
}
