// The untyped half of a channel: its lock, its two wait queues and its closed
// flag, shared by Channel<T> and select. No API promise.
//
// A parked sender or receiver is a WaitNode in one of the queues; the node
// points at the fiber's (or thread's) Waiter and at the value it offers or the
// slot it waits to fill. A select parks one Waiter behind several nodes, one
// per case, in the queues of several channels; whoever claims the Waiter first
// completes that case, and the other nodes turn dead.
#pragma once

#include <atomic>
#include <cstdint>

#include <weft/detail/channel_lock.hpp>
#include <weft/detail/waiter.hpp>

namespace weft::detail {

// Ready is how an attempt at a channel operation came out.
enum class Ready : std::uint8_t {
  not_ready,  // it would have to wait
  done,       // the value went through
  closed,     // the channel is closed (and, for a receive, drained)
};

// WaitNode is one parked operation. Its owner keeps it on its stack; a waker
// touches it only under the channel's lock, the owner reads it after taking
// that lock again.
struct WaitNode {
  WaitNode* next = nullptr;
  WaitNode* prev = nullptr;
  Waiter* waiter = nullptr;
  void* value = nullptr;  // a sender's T (moved from on delivery), or a receiver's std::optional<T>
  int branch = 0;         // the select case this node stands for (0 outside select)
  bool queued = false;    // in a queue; the owner removes it after waking if still set
  Ready outcome = Ready::not_ready;  // set by the waker that claimed the Waiter
};

class Wakeup;

// WaitQueue is a FIFO of WaitNodes, linked through the nodes themselves.
class WaitQueue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }

  void push_back(WaitNode* n) noexcept {
    n->next = nullptr;
    n->prev = tail_;
    if (tail_) {
      tail_->next = n;
    } else {
      head_ = n;
    }
    tail_ = n;
    n->queued = true;
  }

  void remove(WaitNode* n) noexcept {
    if (n->prev) {
      n->prev->next = n->next;
    } else {
      head_ = n->next;
    }
    if (n->next) {
      n->next->prev = n->prev;
    } else {
      tail_ = n->prev;
    }
    n->next = n->prev = nullptr;
    n->queued = false;
  }

  // claim_first() unlinks nodes from the front until it claims one's Waiter,
  // and returns that node (null if none). Nodes whose Waiter gave up (timed
  // out, cancelled) or was claimed through another channel are dropped on the
  // way; their owners find them unlinked. The caller must then hand over and
  // call finish().
  WaitNode* claim_first() noexcept {
    while (WaitNode* n = head_) {
      remove(n);
      if (n->waiter->claim()) return n;
    }
    return nullptr;
  }

  // finish() records how a claimed node's operation ended and tells a select
  // which case fired; under the channel's lock. The owner's wake-up comes
  // after the lock is released: wake.resume_later() (or resume() at once).
  static void finish(WaitNode* n, Ready how, Wakeup& wake) noexcept;

 private:
  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
};

// Wakeup resumes, when it goes out of scope, the one waiter that a critical
// section claimed. Declare it before the ChannelGuard, so that the lock is
// released first: the woken fiber's first act is to take that lock again, and
// nobody spins on it while the wake-up (a remote queue, perhaps a futex) runs.
class Wakeup {
 public:
  Wakeup() noexcept = default;
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;
  ~Wakeup() {
    if (w_) w_->resume();
  }
  void resume_later(Waiter* w) noexcept {
    if (w_) w_->resume();  // never twice in one section, but stay correct
    w_ = w;
  }

 private:
  Waiter* w_ = nullptr;
};

inline void WaitQueue::finish(WaitNode* n, Ready how, Wakeup& wake) noexcept {
  n->outcome = how;
  n->waiter->tag = n->branch;
  wake.resume_later(n->waiter);
}

// ChannelBase is the part of a channel that select locks and queues on
// without knowing the value type.
struct ChannelBase {
  ChannelLock lock;
  WaitQueue senders;    // parked senders: only while the buffer is full
  WaitQueue receivers;  // parked receivers: only while the buffer is empty
  // closed is set once by close(), under lock; atomic (relaxed loads and
  // stores, plain moves) only so that a spinning sender or receiver may peek.
  std::atomic<bool> closed{false};

  Sites sites;  // the threads where a sender and a receiver last ran

  bool is_closed_locked() const noexcept { return closed.load(std::memory_order_relaxed); }
};

}  // namespace weft::detail
