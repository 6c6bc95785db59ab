// weft::detail::ChannelCore<T>: the shared state behind Channel<T> and the
// oneshot pair. No API promise.
//
// One lock guards everything (as in Go's hchan): the buffer, both wait queues
// and the closed flag. Two invariants keep the fast paths short:
//   - a live receiver is parked only while the buffer is empty, so a sender
//     first hands its value straight to the oldest parked receiver;
//   - a live sender is parked only while the buffer is full (always, for
//     capacity 0), so a receiver that takes a value refills the buffer from
//     the oldest parked sender, or takes the sender's value directly.
// A waker claims a parked Waiter before it moves a value, so a value is never
// handed to a receiver that has just timed out or been cancelled, and a sender
// that gives up keeps its value (it was never moved from). Before parking, a
// sender or receiver of a buffered channel that cannot move to another
// worker, and whose other side last ran on another thread, waits a couple of
// microseconds for it (Spinner): cheaper than a park and a cross-thread wake
// when both sides stream. One that can move parks at once, and its waker
// takes it along to its own worker: the two then run back to back there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>

#include <weft/deadline.hpp>
#include <weft/detail/channel_queue.hpp>
#include <weft/detail/channel_ring.hpp>
#include <weft/detail/waiter.hpp>

namespace weft::detail {

// Status is how a blocking channel operation ended.
enum class Status : std::uint8_t { done, closed, timed_out, cancelled };

template <class T>
class ChannelCore : public ChannelBase {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "weft::Channel<T>: T's move constructor must be noexcept (values move under the "
                "channel's lock)");
  static_assert(std::is_nothrow_destructible_v<T>,
                "weft::Channel<T>: T's destructor must be noexcept");

 public:
  static constexpr std::size_t kUnbounded = std::numeric_limits<std::size_t>::max();

  explicit ChannelCore(std::size_t capacity)
      : capacity_(capacity), ring_(capacity == kUnbounded ? 0 : capacity) {}

  std::size_t capacity() const noexcept { return capacity_; }

  // try_send_locked() delivers v at once if it can: to a parked receiver
  // (whom wake resumes), or into the buffer. v is moved from only when it
  // returns done. Under lock; throws std::bad_alloc only when an unbounded
  // buffer cannot grow.
  Ready try_send_locked(T& v, Wakeup& wake) {
    if (is_closed_locked()) return Ready::closed;
    if (!receivers.empty()) {
      if (WaitNode* r = receivers.claim_first()) {
        static_cast<std::optional<T>*>(r->value)->emplace(std::move(v));
        WaitQueue::finish(r, Ready::done, wake);
        return Ready::done;
      }
    }
    if (ring_.full()) {
      if (capacity_ != kUnbounded) return Ready::not_ready;
      ring_.grow();
    }
    ring_.push(std::move(v));
    return Ready::done;
  }

  // try_recv_locked() takes a value into out at once if there is one: from
  // the buffer (refilling it from a parked sender) or from a parked sender,
  // whom wake resumes. closed once the channel is closed and drained. Under
  // lock.
  Ready try_recv_locked(std::optional<T>& out, Wakeup& wake) noexcept {
    if (!ring_.empty()) {
      ring_.pop_into(out);
      if (!senders.empty()) {
        if (WaitNode* s = senders.claim_first()) {
          ring_.push(std::move(*static_cast<T*>(s->value)));
          WaitQueue::finish(s, Ready::done, wake);
        }
      }
      return Ready::done;
    }
    if (!senders.empty()) {
      if (WaitNode* s = senders.claim_first()) {
        out.emplace(std::move(*static_cast<T*>(s->value)));
        WaitQueue::finish(s, Ready::done, wake);
        return Ready::done;
      }
    }
    return is_closed_locked() ? Ready::closed : Ready::not_ready;
  }

  // try_send()/try_recv() never wait: not_ready means full / empty.
  Ready try_send(T& v) {
    Wakeup wake;
    ChannelGuard g(lock);
    return try_send_locked(v, wake);
  }
  Ready try_recv(std::optional<T>& out) noexcept {
    Wakeup wake;
    ChannelGuard g(lock);
    return try_recv_locked(out, wake);
  }

  // send() delivers v, parking until a receiver or a free slot turns up, the
  // channel closes, d (or the caller's deadline scope) passes, or the fiber
  // is cancelled. v is moved from only when it returns done.
  Status send(T& v, Deadline d) {
    const std::uintptr_t me = thread_site();
    Wakeup wake;  // outlives every guard below
    {
      ChannelGuard g(lock);
      Sites::note(sites.sender, me);
      if (Ready r = try_send_locked(v, wake); r != Ready::not_ready) return status_of(r);
    }
    if (spins() && Sites::elsewhere(sites.receiver, me) && stays_put()) {
      Spinner spin(d);
      while (spin.next()) {
        if (!may_send()) continue;
        ChannelGuard g(lock);
        if (Ready r = try_send_locked(v, wake); r != Ready::not_ready) return status_of(r);
      }
    }
    ChannelGuard g(lock);
    if (Ready r = try_send_locked(v, wake); r != Ready::not_ready) return status_of(r);
    Waiter w;
    WaitNode n;
    n.waiter = &w;
    n.value = &v;
    senders.push_back(&n);
    g.unlock();
    return park(w, n, senders, d);
  }

  // recv() takes the next value into out, parking as send() does; closed
  // once the channel is closed and drained.
  Status recv(std::optional<T>& out, Deadline d) noexcept {
    const std::uintptr_t me = thread_site();
    Wakeup wake;  // outlives every guard below
    {
      ChannelGuard g(lock);
      Sites::note(sites.receiver, me);
      if (Ready r = try_recv_locked(out, wake); r != Ready::not_ready) return status_of(r);
    }
    if (spins() && Sites::elsewhere(sites.sender, me) && stays_put()) {
      Spinner spin(d);
      while (spin.next()) {
        if (!may_recv()) continue;
        ChannelGuard g(lock);
        if (Ready r = try_recv_locked(out, wake); r != Ready::not_ready) return status_of(r);
      }
    }
    ChannelGuard g(lock);
    if (Ready r = try_recv_locked(out, wake); r != Ready::not_ready) return status_of(r);
    Waiter w;
    WaitNode n;
    n.waiter = &w;
    n.value = &out;
    receivers.push_back(&n);
    g.unlock();
    return park(w, n, receivers, d);
  }

  // close() closes the channel: parked receivers (the buffer is empty, or
  // they would not be parked) and parked senders (their values stay theirs)
  // wake with closed. False if it was closed already.
  bool close() noexcept {
    ChannelGuard g(lock);
    if (is_closed_locked()) return false;
    closed.store(true, std::memory_order_relaxed);
    // Many waiters may wake: each at once, under the lock (close is rare).
    while (WaitNode* r = receivers.claim_first()) {
      Wakeup now;
      WaitQueue::finish(r, Ready::closed, now);
    }
    while (WaitNode* s = senders.claim_first()) {
      Wakeup now;
      WaitQueue::finish(s, Ready::closed, now);
    }
    return true;
  }

  bool is_closed() noexcept {
    ChannelGuard g(lock);
    return is_closed_locked();
  }

  // may_send()/may_recv() guess, without the lock, whether trying again is
  // worth it for a sender or receiver spinning before it parks: the buffer
  // has room / values, or the channel is closed. A rendezvous channel never
  // says yes: its counterpart is a parked fiber, not buffer space.
  bool may_send() const noexcept {
    return (capacity_ != 0 && ring_.size_hint() < capacity_) ||
           closed.load(std::memory_order_relaxed);
  }
  bool may_recv() const noexcept {
    return ring_.size_hint() != 0 || closed.load(std::memory_order_relaxed);
  }
  // spins() is true when waiting for buffer space or values can pay off
  // (if the other side runs elsewhere).
  bool spins() const noexcept { return capacity_ != 0; }

  std::size_t size() noexcept {
    ChannelGuard g(lock);
    return ring_.size();
  }

 private:
  static Status status_of(Ready r) noexcept {
    return r == Ready::done ? Status::done : Status::closed;
  }

  // park() waits for n's Waiter, then takes n out of q if no waker did.
  Status park(Waiter& w, WaitNode& n, WaitQueue& q, Deadline d) noexcept {
    const WaitStatus s = w.wait(d);
    // Re-take the lock even when claimed: the waker may still be inside its
    // critical section, moving the value and touching n.
    lock.lock();
    if (n.queued) q.remove(&n);
    lock.unlock();
    if (w.claimed()) return n.outcome == Ready::done ? Status::done : Status::closed;
    return s == WaitStatus::cancelled ? Status::cancelled : Status::timed_out;
  }

  const std::size_t capacity_;  // slots; 0 = rendezvous; kUnbounded = grows as needed
  Ring<T> ring_;                // buffered values, guarded by lock
};

}  // namespace weft::detail
