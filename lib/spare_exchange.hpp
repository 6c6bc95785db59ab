// SpareExchange: fibers between tasks that workers share.
//
// A worker keeps the fibers that end on it (SpareFibers). With several
// workers, the one that spawns is often not the one where its fibers end:
// fibers it woke were stolen, or woken by another worker, and ran to their
// end there. It would then build every fiber afresh (a Boost.Fiber context, a
// fresh stack's page fault: 3.5 us a fiber on a 2-core VM, against 0.4 us to
// reuse one) while the other worker's spares waited, unused, to be trimmed.
// So with two workers or more, a worker keeps SpareFibers::kKeep of its own
// and passes the rest on here, parked detached; a worker whose own run out
// takes them all at its next spawn, and attaches them. What nobody takes for
// SpareFibers::kWindowNs goes to an idle worker, whose trimming ends it.
//
// Idle workers also fill it with fibers built ahead, never run, once a spawn
// had none to reuse (want()): the spawning worker then takes those instead of
// paying for a fresh stack itself. See Worker::build_ahead.
//
// Any thread: a lock-free stack that is only ever taken whole (no ABA).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "fiber_record.hpp"
#include "spare_fibers.hpp"
#include "steady_ns.hpp"

namespace weft::detail {

class SpareExchange {
 public:
  // push() passes rec on. It is parked detached, or about to be: then its
  // park_lock is held until it is off its worker's CPU.
  void push(FiberRecord* rec) noexcept {
    count_.fetch_add(1, std::memory_order_relaxed);
    FiberRecord* head = head_.load(std::memory_order_relaxed);
    if (!head) touched_ns_.store(steady_ns(), std::memory_order_relaxed);
    do {
      rec->spare_next = head;
    } while (!head_.compare_exchange_weak(head, rec, std::memory_order_release, std::memory_order_relaxed));
  }

  // take_all() empties the exchange and returns its fibers, linked through
  // spare_next; the caller, walking them anyway, reports how many (taken()).
  FiberRecord* take_all() noexcept {
    if (!head_.load(std::memory_order_relaxed)) return nullptr;
    touched_ns_.store(steady_ns(), std::memory_order_relaxed);
    return head_.exchange(nullptr, std::memory_order_acquire);
  }
  void taken(std::size_t n) noexcept { count_.fetch_sub(n, std::memory_order_relaxed); }

  bool empty() const noexcept { return head_.load(std::memory_order_relaxed) == nullptr; }
  // unused_at() is when what is here will have gone a window without a
  // taker (steady ns): then an idle worker takes it in to be trimmed. Max
  // when empty.
  std::int64_t unused_at() const noexcept {
    if (empty()) return std::numeric_limits<std::int64_t>::max();
    return touched_ns_.load(std::memory_order_relaxed) + SpareFibers::kWindowNs;
  }
  // want() says a spawn found no fiber to reuse and built one: idle workers
  // build some ahead (Worker::build_ahead) until one of them finds enough
  // here and clears wanted() (satisfied()). True when it was not wanted yet:
  // the caller then wakes a parked worker for it.
  bool want() noexcept {
    if (wanted_.load(std::memory_order_relaxed)) return false;
    wanted_.store(true, std::memory_order_relaxed);
    return true;
  }
  bool wanted() const noexcept { return wanted_.load(std::memory_order_relaxed); }
  void satisfied() noexcept { wanted_.store(false, std::memory_order_relaxed); }

  // size() counts the fibers passed on and not yet taken (a snapshot).
  std::size_t size() const noexcept { return count_.load(std::memory_order_relaxed); }

 private:
  std::atomic<FiberRecord*> head_{nullptr};
  std::atomic<std::size_t> count_{0};
  std::atomic<std::int64_t> touched_ns_{0};  // last made non-empty, or taken from
  alignas(64) std::atomic<bool> wanted_{false};
};

}  // namespace weft::detail
