// The untyped engine of weft::select. No API promise.
#pragma once

#include <cstddef>

#include <weft/deadline.hpp>
#include <weft/detail/channel_queue.hpp>
#include <weft/detail/waiter.hpp>

namespace weft::detail {

// SelectCase is one channel case of a select: a send or a receive on one
// channel, with the node it parks behind. The typed part (the value, the
// callback) lives in the derived class.
class SelectCase {
 public:
  SelectCase(ChannelBase* channel, bool sends) noexcept : ch(channel), sends(sends) {}

  // poll_locked() completes the operation at once if it can (done, or closed
  // when the channel is closed), under ch->lock; wake resumes a counterpart
  // it completed. It points node.value at the case's value first, so a moved
  // case object still works.
  virtual Ready poll_locked(Wakeup& wake) = 0;

  // may_complete() guesses, without the lock, whether poll_locked() could
  // succeed now; spins() tells whether waiting for that can pay off (see
  // ChannelCore::may_send()).
  virtual bool may_complete() const noexcept = 0;
  virtual bool spins() const noexcept = 0;

  // fire() runs the case's callback once the case won with outcome how.
  virtual void fire(Ready how) = 0;

  ChannelBase* const ch;  // the channel; its lock guards node
  const bool sends;       // a send case (parks in ch->senders) or a receive (ch->receivers)
  WaitNode node;          // this case's place in ch's queue while the select waits

 protected:
  SelectCase(const SelectCase& o) noexcept : ch(o.ch), sends(o.sends) {}
  ~SelectCase() = default;
};

// SelectResult is what select_run() found.
struct SelectResult {
  int index = -1;                         // the case that completed, or -1
  Ready how = Ready::not_ready;           // for a case: done, or closed
  WaitStatus status = WaitStatus::woken;  // for -1 after a wait: timed_out or cancelled
};

// select_run() completes one of the n cases: it first tries each in turn from
// a random start (so no case starves when several are ready), then, if block,
// spins briefly (see Spinner; only a caller that stays put) while any case
// may turn ready, then takes every channel's lock (in address order, so two
// selects cannot deadlock), tries again, and parks one Waiter behind a node in every queue
// until one case completes, d (or the caller's deadline scope) passes, or the
// fiber is cancelled. Without block it returns index -1 when nothing is ready.
// locks has room for n pointers.
SelectResult select_run(SelectCase* const* cases, std::size_t n, ChannelBase** locks, bool block,
                        Deadline d);

}  // namespace weft::detail
