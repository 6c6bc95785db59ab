// Internals shared by the weft::sync primitives: the waiter node, the
// intrusive FIFO operations, one park routine, and a mask that lets a fiber
// wait through its own cancellation and deadline scope (to re-take a lock it
// must hold when it returns, or to let children that borrow its stack end).
//
// Every primitive follows detail::Waiter's protocol: enqueue under the
// primitive's spin lock word, wait outside it, re-take it and unlink the node
// if it is still queued; wakers pop a node and claim()/wake() it only while
// holding that lock. A node that gave up (deadline, cancellation) fails its
// claim, and the waker hands what it had to the next node instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>

#include <weft/deadline.hpp>
#include <weft/detail/waiter.hpp>
#include <weft/sync/detail.hpp>

#include "../spin_lock.hpp"

namespace weft::detail {

class FiberRecord;

// SyncNode is the waiter every primitive queues; the extra fields are its
// request (how many permits, which phase, reader or writer).
struct SyncNode : Waiter {
  bool queued = false;       // linked in a WaitList (guarded by the list's lock)
  bool popped = false;       // taken off the list by a waker (not by itself)
  std::uint64_t amount = 0;  // Semaphore: permits wanted
  std::uint64_t phase = 0;   // Barrier: the phase it arrived in
  bool handed = false;       // Mutex: claimed with the lock handed over
};

inline SyncNode* node(Waiter* w) noexcept { return static_cast<SyncNode*>(w); }

// push_back() appends n. Lock held.
inline void push_back(WaitList& l, SyncNode* n) noexcept {
  n->next = nullptr;
  n->prev = l.tail;
  if (l.tail) {
    l.tail->next = n;
  } else {
    l.head = n;
  }
  l.tail = n;
  n->queued = true;
}

// push_front() puts n first (a waiter that keeps its place). Lock held.
inline void push_front(WaitList& l, SyncNode* n) noexcept {
  n->prev = nullptr;
  n->next = l.head;
  if (l.head) {
    l.head->prev = n;
  } else {
    l.tail = n;
  }
  l.head = n;
  n->queued = true;
}

// unlink() removes n, which must be queued. Lock held.
inline void unlink(WaitList& l, SyncNode* n) noexcept {
  if (n->prev) {
    n->prev->next = n->next;
  } else {
    l.head = n->next;
  }
  if (n->next) {
    n->next->prev = n->prev;
  } else {
    l.tail = n->prev;
  }
  n->next = n->prev = nullptr;
  n->queued = false;
}

// pop_front() removes and returns the oldest node, or null. Lock held.
inline SyncNode* pop_front(WaitList& l) noexcept {
  SyncNode* n = node(l.head);
  if (n) {
    unlink(l, n);
    n->popped = true;
  }
  return n;
}

// wake_all() pops every node and wakes those still waiting. Lock held.
inline void wake_all(WaitList& l) noexcept {
  while (SyncNode* n = pop_front(l)) n->wake();
}

// park() waits on n, which the caller queued on l with lk held: it releases
// lk, waits until d (combined with the caller's deadline scope) or
// cancellation, re-takes lk and unlinks n if nobody popped it. Returns with lk
// held. Whatever the status, n->claimed() tells whether a waker chose n.
inline WaitStatus park(std::atomic<std::uint32_t>& lk, WaitList& l, SyncNode& n, Deadline d) noexcept {
  unlock_word(lk);
  WaitStatus s = n.wait(d);
  lock_word(lk);
  if (n.queued) unlink(l, &n);
  return s;
}

// spin_may_pay() tells a locker that found a lock taken whether a short spin
// before queueing can pay off. Not on a worker that has other fibers ready:
// running them is the better use of the core (Go's rule), and the locker,
// once queued, is woken on the unlocker's worker. Not in a one-worker
// runtime either: the holder is then a fiber of the same worker, which
// cannot run while we spin. A plain thread spins.
bool spin_may_pay() noexcept;

// status_error() maps a failed wait to its error code.
inline std::error_code status_error(WaitStatus s) noexcept {
  switch (s) {
    case WaitStatus::woken:
      return {};
    case WaitStatus::timed_out:
      return std::make_error_code(std::errc::timed_out);
    case WaitStatus::cancelled:
      break;
  }
  return std::make_error_code(std::errc::operation_canceled);
}

// WaitMask suspends, for its lifetime, the calling fiber's cancellation and
// the caller's deadline scope, so that waits inside it last until their
// event. On exit it restores both; a cancellation that arrived meanwhile is
// kept. Use only for waits that are known to end soon and must not be cut
// short: a condition variable re-taking its mutex, a task group waiting for
// children it has already cancelled.
class WaitMask {
 public:
  WaitMask() noexcept;
  ~WaitMask();
  WaitMask(const WaitMask&) = delete;
  WaitMask& operator=(const WaitMask&) = delete;

  // absorb() is called when a masked wait still reported cancellation (a
  // cancel() raced the mask): it notes it and masks it again.
  void absorb() noexcept;

 private:
  FiberRecord* rec_;      // the calling fiber's record, or null on a thread
  bool cancelled_;        // the fiber was (or became) cancelled
  Deadline scope_;        // the deadline scope to restore
};

// misuse() reports a broken precondition in a noexcept path and aborts.
[[noreturn]] void misuse(const char* what) noexcept;

}  // namespace weft::detail
