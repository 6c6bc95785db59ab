// Parking and waking fibers: the one protocol every weft wait uses.
//
// A waiting fiber takes a fresh epoch from its context (invalidating older
// wakers), publishes (ctx, epoch) where its waker will find it, and suspends.
// wake(ctx, epoch) succeeds only for the current epoch (compare-and-swap), so a
// stale or duplicate wake is dropped, and only one of several racing wakers
// (the event, a timeout, a cancellation) schedules the fiber.
//
// A wake may land after the fiber published its epoch but before it switched
// away. That is safe. A fiber pinned to its worker (or in a runtime where no
// fiber moves) is woken into its own worker's remote queue, which only that
// worker drains, after the switch. Any other fiber parks detached (park_state
// in FiberRecord): the waker claims the wait; a fiber not parked yet sees the
// claim and does not park; a parked one is taken by the waker only once its
// park_lock, held across the switch, is free, and otherwise handed back to
// its worker, which runs it after the switch.
#pragma once

#include <chrono>
#include <cstddef>

#include <boost/fiber/context.hpp>

#include "fiber_record.hpp"

namespace weft::detail {

using Ctx = boost::fibers::context;

// new_epoch() starts a wait: wakers with older epochs no longer wake ctx.
inline std::size_t new_epoch(Ctx* ctx) noexcept { return ctx->waker_epoch_.fetch_add(1) + 1; }

// wake() schedules ctx if epoch is still its current one. Any thread. A
// fiber that parked detached runs next on the waking worker (to_waker), or
// else on the worker it parked on (a waker that is no worker: that worker).
bool wake(Ctx* ctx, std::size_t epoch, bool to_waker = true) noexcept;

// park() suspends the calling fiber after it published (ctx, epoch). When rec is
// given the wait is a cancellation point: park() returns false without
// suspending if the fiber is cancelled (its epoch is then spent, so a late
// waker is ignored), and a cancel() while parked wakes it.
bool park(Ctx* ctx, std::size_t epoch, FiberRecord* rec) noexcept;

// arm() makes the coming suspension a cancellation point (park() does it for
// you; sleep uses it around Boost's own timed suspension). Returns false if the
// fiber is already cancelled: then do not suspend. disarm() ends it.
bool arm(Ctx* ctx, std::size_t epoch, FiberRecord* rec) noexcept;
inline void disarm(FiberRecord* rec) noexcept { rec->parked_epoch.store(0, std::memory_order_relaxed); }

// WaitResult says why wait_until() returned. A caller first checks whether its
// own event happened (a value handed over, a waiter entry consumed): an event
// that raced a timeout or a cancellation still counts.
enum class WaitResult { woken, timed_out, cancelled };

// wait_until() parks the calling fiber (rec) after it published epoch, until a
// wake, the deadline (the earlier of `deadline` and the fiber's deadline
// scope, filed in this worker's timer wheel) or cancellation. Every weft wait
// that can time out goes through here. ahead: the caller knows `deadline`
// has not passed (it read the clock just before), which saves a reading.
WaitResult wait_until(FiberRecord* rec, std::size_t epoch, std::chrono::steady_clock::time_point deadline,
                      bool ahead = false) noexcept;

// cancel() marks rec cancelled and wakes it from a cancellable wait.
void cancel(FiberRecord* rec) noexcept;

// check_cancel() throws weft::Cancelled if rec is cancelled.
void check_cancel(FiberRecord* rec);

}  // namespace weft::detail
