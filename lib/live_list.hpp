// LiveList: the fibers alive in one runtime, so that shutdown can cancel them.
// A runtime keeps one list per worker (spawns there touch only that list's
// lock) and one for spawns from outside threads.
#pragma once

#include <cstddef>
#include <mutex>

#include "fiber_record.hpp"
#include "spin_lock.hpp"

namespace weft::detail {

struct LiveList {
  SpinLock lock;
  FiberRecord* head = nullptr;
  std::size_t count = 0;

  void add(FiberRecord* r) noexcept {
    std::lock_guard<SpinLock> g(lock);
    r->live_list = this;
    r->live_prev = nullptr;
    r->live_next = head;
    if (head) head->live_prev = r;
    head = r;
    ++count;
  }

  void remove(FiberRecord* r) noexcept {
    std::lock_guard<SpinLock> g(lock);
    if (r->live_prev) r->live_prev->live_next = r->live_next;
    else head = r->live_next;
    if (r->live_next) r->live_next->live_prev = r->live_prev;
    --count;
  }

  std::size_t size() noexcept {
    std::lock_guard<SpinLock> g(lock);
    return count;
  }
};

}  // namespace weft::detail
