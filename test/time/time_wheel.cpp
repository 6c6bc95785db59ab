// TimerWheel driven by a manual clock: every entry fires exactly once, never
// early and never late by a tick, whatever its level; removed entries never
// fire; a million entries are fine.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "timer_wheel.hpp"

using weft::detail::TimerEntry;
using weft::detail::TimerWheel;

namespace {
struct Probe : TimerEntry {
  std::uint64_t due = 0;  // the deadline it was filed for
  std::uint64_t fired_at = 0;
  int fires = 0;
  int looked_ahead = 0;  // ahead() calls since the last fire
  bool removed = false;
};

void file(TimerWheel& w, Probe& p, std::uint64_t due) {
  p.due = due;
  w.insert(&p, due);
}

// run_until advances tick by tick (or in jumps) and records when each fires.
void run_until(TimerWheel& w, std::uint64_t end, std::uint64_t step, std::uint64_t& now) {
  while (now < end) {
    now += step;
    w.advance(now, [&](TimerEntry* e) {
      auto* p = static_cast<Probe*>(e);
      p->fires++;
      p->fired_at = now;
    });
  }
}
}  // namespace

TEST_CASE("time_wheel: entries fire exactly at their tick across all levels") {
  TimerWheel w;
  std::mt19937_64 rng(7);
  std::vector<Probe> probes(20000);
  for (auto& p : probes) {
    // Mix of near (level 0) and far (levels 1-4) deadlines.
    std::uint64_t range = std::uint64_t{1} << (6 * (1 + rng() % 4));
    file(w, p, 1 + rng() % range);
  }
  std::uint64_t now = 0;
  std::uint64_t horizon = std::uint64_t{1} << 24;
  // Jump from expiry to expiry, as a poller sleeping until next_expiry() would.
  while (!w.empty()) {
    std::uint64_t next = w.next_expiry();
    REQUIRE(next != TimerWheel::kNever);
    REQUIRE(next >= now);
    now = next;
    w.advance(now, [&](TimerEntry* e) {
      auto* p = static_cast<Probe*>(e);
      p->fires++;
      p->fired_at = now;
    });
    REQUIRE(now <= horizon);
  }
  for (auto& p : probes) {
    CHECK(p.fires == 1);
    CHECK(p.fired_at == p.due);
  }
}

TEST_CASE("time_wheel: stepping one tick at a time gives the same result") {
  TimerWheel w;
  std::vector<Probe> probes(5000);
  std::mt19937_64 rng(11);
  for (auto& p : probes) file(w, p, rng() % 70000);
  std::uint64_t now = 0;
  run_until(w, 70000, 1, now);
  for (auto& p : probes) {
    CHECK(p.fires == 1);
    // A deadline at or before the start fires at the first advance.
    CHECK(p.fired_at == (p.due == 0 ? 1 : p.due));
  }
  CHECK(w.empty());
}

TEST_CASE("time_wheel: removed entries never fire and the rest still do") {
  TimerWheel w;
  std::vector<Probe> probes(10000);
  std::mt19937_64 rng(3);
  for (auto& p : probes) file(w, p, 1 + rng() % 300000);
  for (std::size_t i = 0; i < probes.size(); i += 3) {
    w.remove(&probes[i]);
    probes[i].removed = true;
  }
  CHECK(w.size() == probes.size() - (probes.size() + 2) / 3);
  std::uint64_t now = 0;
  run_until(w, 300000, 997, now);  // coarse steps: late by less than a step
  for (auto& p : probes) {
    if (p.removed) {
      CHECK(p.fires == 0);
    } else {
      CHECK(p.fires == 1);
      CHECK(p.fired_at >= p.due);
      CHECK(p.fired_at < p.due + 997);
    }
  }
}

TEST_CASE("time_wheel: a deadline beyond the wheel's span is re-filed until due") {
  TimerWheel w;
  Probe far;
  std::uint64_t span = std::uint64_t{1} << 36;
  file(w, far, span * 3 + 5);
  std::uint64_t now = 0;
  int steps = 0;
  while (!w.empty() && steps < 100) {
    now = w.next_expiry();
    w.advance(now, [&](TimerEntry* e) {
      auto* p = static_cast<Probe*>(e);
      p->fires++;
      p->fired_at = now;
    });
    ++steps;
  }
  CHECK(far.fires == 1);
  CHECK(far.fired_at == far.due);
}

TEST_CASE("time_wheel: a million pending entries insert, expire in order, and drain") {
  TimerWheel w;
  constexpr std::size_t n = 1'000'000;
  std::vector<Probe> probes(n);
  std::mt19937_64 rng(5);
  for (auto& p : probes) file(w, p, 1 + rng() % 100'000);
  CHECK(w.size() == n);
  std::uint64_t last = 0, fired = 0;
  bool ordered = true;
  std::uint64_t now = 0;
  while (!w.empty()) {
    now = w.next_expiry();
    w.advance(now, [&](TimerEntry* e) {
      const std::uint64_t due = static_cast<Probe*>(e)->due;
      if (due < last) ordered = false;
      last = due;
      ++fired;
    });
  }
  CHECK(ordered);
  CHECK(fired == n);
}

TEST_CASE("time_wheel: next_expiry is the earliest deadline") {
  TimerWheel w;
  CHECK(w.next_expiry() == TimerWheel::kNever);
  Probe a, b, c;
  file(w, a, 5000);
  file(w, b, 70);
  file(w, c, 300000);
  // Higher levels report the start of their slot, never after the deadline.
  CHECK(w.next_expiry() <= 70);
  std::uint64_t now = 0;
  run_until(w, 70, 70, now);
  CHECK(b.fires == 1);
  CHECK(w.next_expiry() <= 5000);
  w.remove(&a);
  CHECK(w.next_expiry() <= 300000);
  w.remove(&c);
  CHECK(w.next_expiry() == TimerWheel::kNever);
}

TEST_CASE("time_wheel: advance() shows every due entry to ahead() before it fires, crowded slots included") {
  TimerWheel w;
  std::mt19937_64 rng(11);
  // Slots of 1 to 50 entries each (shorter and longer than the look-ahead),
  // some filed at higher levels and cascaded down on the way.
  std::vector<Probe> probes(5000);
  for (auto& p : probes) file(w, p, 1 + rng() % (rng() % 2 ? 100 : 5000));
  std::uint64_t now = 0;
  bool ahead_before_fire = true;
  while (!w.empty()) {
    now = w.next_expiry();
    w.advance(
        now,
        [&](TimerEntry* e) {
          auto* p = static_cast<Probe*>(e);
          if (p->looked_ahead == 0) ahead_before_fire = false;
          p->looked_ahead = 0;
          p->fires++;
          p->fired_at = now;
        },
        [&](TimerEntry* e) { static_cast<Probe*>(e)->looked_ahead++; });
  }
  CHECK(ahead_before_fire);
  for (auto& p : probes) {
    CHECK(p.fires == 1);
    CHECK(p.fired_at == p.due);
  }
}

TEST_CASE("time_wheel: removing from crowded slots, in any order, fires exactly the rest") {
  TimerWheel w;
  std::mt19937_64 rng(13);
  // 6,000 entries on 3 ticks (one level-0 slot each, many blocks deep) and on
  // 3 far ticks that cascade; a random half removed in random order.
  std::vector<Probe> probes(6000);
  const std::uint64_t ticks[] = {5, 6, 40, 3000, 3001, 200000};
  for (std::size_t i = 0; i < probes.size(); ++i) file(w, probes[i], ticks[i % 6]);
  std::vector<std::size_t> order(probes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  for (std::size_t k = 0; k < order.size() / 2; ++k) {
    Probe& p = probes[order[k]];
    w.remove(&p);
    p.removed = true;
    CHECK_FALSE(p.filed());
    w.remove(&p);  // a second remove is a no-op
  }
  CHECK(w.size() == probes.size() / 2);
  std::uint64_t now = 0;
  while (!w.empty()) {
    now = w.next_expiry();
    w.advance(now, [&](TimerEntry* e) {
      auto* p = static_cast<Probe*>(e);
      CHECK_FALSE(p->filed());
      p->fires++;
      p->fired_at = now;
    });
  }
  for (auto& p : probes) {
    CHECK(p.fires == (p.removed ? 0 : 1));
    if (!p.removed) CHECK(p.fired_at == p.due);
  }
}

TEST_CASE("time_wheel: entries removed while their slot cascades stay removed") {
  TimerWheel w;
  std::vector<Probe> probes(300);
  // All at level 1 first; after the cascade at tick 64 they sit at level 0.
  for (std::size_t i = 0; i < probes.size(); ++i) file(w, probes[i], 65 + i % 50);
  std::uint64_t now = 0;
  run_until(w, 64, 64, now);
  CHECK(w.size() == probes.size());
  for (std::size_t i = 0; i < probes.size(); i += 2) {
    w.remove(&probes[i]);
    probes[i].removed = true;
  }
  run_until(w, 200, 1, now);
  CHECK(w.empty());
  for (auto& p : probes) CHECK(p.fires == (p.removed ? 0 : 1));
}

TEST_CASE("time_wheel: the block pool grows with a burst and gives the memory back after it") {
  TimerWheel w;
  CHECK(w.pool_blocks() == 0);
  std::vector<Probe> probes(100000);
  std::mt19937_64 rng(17);
  for (auto& p : probes) file(w, p, 1 + rng() % 100);
  // 15 pairs a block: about 6,700 blocks and one partial block per slot.
  CHECK(w.pool_blocks() >= probes.size() / 15);
  CHECK(w.pool_blocks() <= probes.size() / 15 + 400);
  std::uint64_t now = 0;
  std::size_t fired = 0;
  run_until(w, 100, 1, now);
  for (auto& p : probes) fired += static_cast<std::size_t>(p.fires);
  CHECK(fired == probes.size());
  CHECK(w.empty());
  CHECK(w.pool_blocks() <= 16);
  // The wheel still works once trimmed.
  Probe late;
  file(w, late, now + 10);
  run_until(w, now + 10, 1, now);
  CHECK(late.fires == 1);
}
