// The scheduling algorithm of one worker (see worker.hpp for the pick order).
//
// Boost.Fiber contexts belong to one thread's scheduler at a time. A fiber that
// may be stolen is detached from this scheduler when it enters the run queue
// (here, on the owner thread) and attached by whichever worker picks it. The
// LIFO slot and the pinned list keep their fibers attached: nobody steals them.
#include "worker.hpp"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include <boost/fiber/algo/round_robin.hpp>

#include "build_fiber.hpp"
#include "fiber_record.hpp"
#include "log.hpp"
#include "overflow_guard.hpp"
#include "runtime_core.hpp"
#include "spin_lock.hpp"
#include "steady_ns.hpp"
#include "wait.hpp"

namespace weft::detail {

namespace {
// initial-exec: a plain %fs-relative load instead of a __tls_get_addr call.
__attribute__((tls_model("initial-exec"))) thread_local Worker* tls_worker = nullptr;

bool is_dispatcher(Ctx* ctx) noexcept { return ctx->is_context(boost::fibers::type::dispatcher_context); }

bool is_pinned(Ctx* ctx) noexcept {
  if (ctx->is_context(boost::fibers::type::pinned_context)) return true;
  FiberRecord* r = record_of(ctx);
  return r && r->home;
}

}  // namespace

__attribute__((noinline)) Worker* current_worker() noexcept {
  // The empty asm keeps the compiler from assuming the thread pointer is the
  // same as at an earlier call in the caller (a fiber may have moved threads).
  Worker* w = tls_worker;
  asm volatile("" : "+r"(w));
  return w;
}

void set_current_worker(Worker* w) noexcept { tls_worker = w; }

void Worker::thread_main() noexcept {
  set_current_worker(this);
  std::string name = rt->cfg.thread_name_prefix() + std::to_string(index);
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
  tid.store(static_cast<int>(gettid()), std::memory_order_relaxed);
  rt->cpus.pin_worker(index);
  {
    AltStack alt;  // the stack-overflow reporter runs on it
    boost::fibers::use_scheduling_algorithm<WorkerAlgorithm>(this);
    sched = Ctx::active()->get_scheduler();
    Ctx* self = Ctx::active();
    running_.store(self, std::memory_order_relaxed);
    std::unique_lock<std::mutex> lk(main_mu_);
    if (!stop_) {
      // The thread's own context parks until request_stop(); meanwhile the
      // dispatcher fiber runs the fibers on this thread.
      main_ctx_ = self;
      main_epoch_ = new_epoch(self);
      lk.unlock();
      // A wake that lands before the switch waits in the remote queue, which
      // only this thread drains, after the switch.
      self->suspend();
      // request_stop() wakes us under main_mu_, and the wake touches this
      // thread's scheduler after queueing us (Boost notifies the algorithm
      // last): wait for it to let go before the scheduler can go with the
      // thread.
      lk.lock();
    }
    logger().debug("worker {} stopping", index);
    end_all_spares(self);
    // Leaving the block destroys nothing of Boost's; its scheduler goes at
    // thread exit, after draining finished fibers. Return cached stacks now.
  }
  rt->stacks.flush(stacks);
  set_current_worker(nullptr);
}

Ctx* Worker::enter_caller() noexcept {
  set_current_worker(this);
  tid.store(static_cast<int>(gettid()), std::memory_order_relaxed);
  if (!sched) {
    boost::fibers::use_scheduling_algorithm<WorkerAlgorithm>(this);
    sched = Ctx::active()->get_scheduler();
  }
  Ctx* self = Ctx::active();
  running_.store(self, std::memory_order_relaxed);
  return self;
}

void Worker::leave_caller() noexcept {
  running_.store(nullptr, std::memory_order_relaxed);
  set_current_worker(nullptr);
}

void Worker::end_all_spares(Ctx* self) noexcept {
  // End the fibers kept between tasks: each returns from its main function
  // and Boost frees it (and gives its stack back) like any finished fiber.
  retiring_ = true;
  // Those passed on too. Past retiring_ this worker passes on no more, so
  // the last worker to stop leaves the exchange empty.
  adopt_spares();
  while (FiberRecord* rec = take_spare()) {
    rec->retire = true;  // its stack, counted again, is uncounted by its release
    set_running(rec->ctx);
    rec->ctx->resume(self);
  }
}

void Worker::retire_caller() noexcept {
  end_all_spares(Ctx::active());
  while (has_ready_fibers()) boost::this_fiber::yield();  // spares ended elsewhere (end_spare)
  // Boost frees finished fibers in its dispatcher's loop, not when they end:
  // run that loop once (a pending remote wake makes the next pick choose the
  // dispatcher), this context queued behind, so that no stack goes back to
  // the pool after the pool is gone.
  remote_pending_.store(true, std::memory_order_relaxed);
  boost::this_fiber::yield();
  // The thread keeps its Boost scheduler: give it the default algorithm,
  // which must get the dispatcher too (Boost's ready queue never runs dry).
  handing_over_ = true;
  boost::fibers::use_scheduling_algorithm<boost::fibers::algo::round_robin>();
  sched = nullptr;
  rt->stacks.flush(stacks);
}

bool Worker::park_spare(FiberRecord* rec) noexcept {
  if (retiring_ || rec->stack_size != rt->stacks.default_usable()) return false;
  // Beyond kKeep, with other workers, for whichever worker runs out first.
  const bool pass_on = spares_.size() >= SpareFibers::kKeep && rt->started_workers() > 1;
  if (!pass_on && !spares_.put(rec)) return false;
  rec->end_task();
  stacks.count(-1);  // a stack in use is one a live fiber holds
  if (pass_on) {
    pass_on_spare(rec);
  } else {
    // In no queue: only take_spare() on this thread resumes it.
    rec->ctx->suspend();
  }
  return !rec->retire;
}

void Worker::pass_on_spare(FiberRecord* rec) noexcept {
  // Parked detached, as a fiber that may move parks (wait.cpp): pick_next
  // detaches it before the switch, and its park_lock, held across the
  // switch, tells the worker that adopts it when it is off this stack.
  boost::fibers::detail::spinlock_lock lk(rec->park_lock, std::defer_lock);
  while (!lk.try_lock()) spin_pause();
  rec->detach_pending = true;
  rt->spares.push(rec);
  rec->ctx->suspend(lk);
}

void Worker::adopt_spares() noexcept {
  FiberRecord* r = rt->spares.take_all();
  std::size_t n = 0;
  for (; r; ++n) {
    FiberRecord* next = r->spare_next;
    // Still switching away on the worker that passed it on: a moment.
    while (!r->park_lock.try_lock()) spin_pause();
    r->park_lock.unlock();
    attach(r->ctx);
    if (!spares_.put(r)) {
      stacks.count(1);  // as take_spare() would
      end_spare(r);     // no room to list it
    }
    r = next;
  }
  rt->spares.taken(n);
}

void Worker::end_spare(FiberRecord* rec) noexcept {
  rec->retire = true;  // its stack, counted again, is uncounted by its release
  // Pinned here, so that it stays attached: a stopping worker's Boost
  // scheduler still runs it before the thread ends.
  rec->home = this;
  sched->schedule(rec->ctx);
}

bool Worker::rt_spares_empty() const noexcept { return rt->spares.empty(); }

bool Worker::build_ahead() noexcept {
  if (retiring_ || !rt->accepting() || rt->spares.size() >= kBuildAhead) {
    rt->spares.satisfied();
    return false;
  }
  FiberRecord* rec;
  try {
    rec = build_fiber(rt, nullptr, nullptr, 0, this);
  } catch (...) {
    rt->spares.satisfied();  // out of memory: let the spawn that needs one say so
    return false;
  }
  stacks.count(-1);  // a spare's stack is not in use (park_spare)
  rt->spares.push(rec);
  return true;
}

void Worker::end_spares(std::int64_t now_ns) noexcept {
  // One batch at a time, and only with nothing else waiting here: each ends
  // with a switch and Boost's teardown, which should not delay real work.
  if (!pinned_.empty() || has_lifo() || queue_.size_hint() != 0) return;
  // Spares passed on that no spawn took for a window: kept here from now
  // on, where the window below ends them if they stay unused.
  if (now_ns >= rt->spares.unused_at()) adopt_spares();
  const std::size_t n = spares_.due(now_ns);
  for (std::size_t i = 0; i < n; ++i) end_spare(take_spare());
  spares_.ended(n);
}

void Worker::request_stop() noexcept {
  std::lock_guard<std::mutex> lk(main_mu_);
  stop_ = true;
  if (main_ctx_) wake(main_ctx_, main_epoch_);
  else unpark();
}

void Worker::unpark() noexcept {
  if (parker_.unpark()) rt->reactor.interrupt();
}

void Worker::maintain() noexcept {
  // Fire due deadlines and collect ready sockets; both may make fibers ready
  // here (awakened), before the pick below.
  const auto now = std::chrono::steady_clock::now();
  // Fibers a deadline woke have waited a millisecond at least: what they
  // touch is cold, so the next pops fetch it ahead (prefetch_queued).
  cold_pops_ += timers_.run(now);
  const std::int64_t t = to_ns(now);
  end_spares(t);
  if (rt->on_caller && t - last_trim_ns_ >= kTrimNs) {
    last_trim_ns_ = t;
    rt->stacks.trim();
  }
  if (!rt->reactor.has_sources()) return;
  // Take ready sockets a small batch at a time, and only once the queue has
  // almost run dry, as an epoll loop handles each batch before it polls
  // again. The kernel's ready list keeps the rest in order. A fiber then
  // runs soon after the poll that found its socket: what the poll touched
  // (the socket, the fiber's record and stack) is still in cache, where a
  // deep queue would have evicted it (1,000 echo connections on one worker:
  // 7% less CPU per message than with batches of up to 255). A queue that
  // never empties (fibers that only yield) still gets a poll every
  // kBusyPollNs, as much as it has room for: beyond that, fibers would
  // overflow into the injection queue, where they wait behind every later
  // poll's (1,000 echo connections: a p99 of 52 ms instead of 12). Until
  // then, tell the reactor thread that we will poll, or it would poll behind
  // our back and hand us a full batch from outside.
  const std::uint32_t queued = std::min(queue_.size_hint(), RunQueue<Ctx>::kCapacity);
  if (queued < static_cast<std::uint32_t>(kPollBatch)) {
    rt->reactor.poll(this, std::chrono::nanoseconds(0), kPollBatch);
    last_poll_ns_ = t;
  } else if (t - last_poll_ns_ >= kBusyPollNs) {
    const int room = static_cast<int>(RunQueue<Ctx>::kCapacity - queued) - 1;  // and the LIFO slot's
    rt->reactor.poll(this, std::chrono::nanoseconds(0), std::max(room, kMinPollRoom));
    last_poll_ns_ = t;
  } else {
    rt->reactor.will_poll(t);
  }
}

void Worker::push_stealable(Ctx* ctx) noexcept {
  // Detach so that another worker may attach it; with one worker nobody will.
  if (rt->may_steal() && ctx->get_scheduler()) ctx->detach();
  while (!queue_.push(ctx)) spill_half();
  rt->notify_idle();
}

void Worker::spill_half() noexcept {
  Ctx* half[RunQueue<Ctx>::kCapacity / 2];
  rt->inject_batch(half, queue_.take_half(half));
}

void Worker::awakened(Ctx* ctx) noexcept {
  if (is_dispatcher(ctx)) {
    dispatcher_ = ctx;
    return;
  }
  if (is_pinned(ctx)) {
    pinned_.push_back(*ctx);
    return;
  }
  if (ctx == yielding_) {
    // A yield goes to the back of the line.
    yielding_ = nullptr;
    push_stealable(ctx);
    return;
  }
  // Detached, another worker can take it over if we get stuck (steal_lifo).
  // (A fiber woken from a detached park comes detached already.)
  if (rt->may_steal() && ctx->get_scheduler()) ctx->detach();
  if (Ctx* old = lifo_.exchange(ctx, std::memory_order_acq_rel)) push_stealable(old);
}

Ctx* Worker::attach(Ctx* ctx) noexcept {
  // Through our scheduler, not Ctx::active(): the context asking may be one
  // that is parking detached, with no scheduler of its own any more.
  if (!ctx->get_scheduler()) sched->attach_worker_context(ctx);
  return ctx;
}

void Worker::hand_off(FiberRecord* rec) noexcept {
  FiberRecord* head = handoff_.load(std::memory_order_relaxed);
  do {
    rec->handoff_next.store(head, std::memory_order_relaxed);
  } while (!handoff_.compare_exchange_weak(head, rec, std::memory_order_release, std::memory_order_relaxed));
  notify();
}

void Worker::release_handoffs() noexcept {
  FiberRecord* r = handoff_.exchange(nullptr, std::memory_order_acquire);
  while (r) {
    FiberRecord* next = r->handoff_next.load(std::memory_order_relaxed);
    if (r->park_lock.try_lock()) {
      r->park_lock.unlock();  // off the CPU: anyone may run it
      rt->inject(r->ctx);
    } else {
      hand_off(r);
    }
    r = next;
  }
}

void Worker::drain_handoffs(Ctx* switching) noexcept {
  FiberRecord* r = handoff_.exchange(nullptr, std::memory_order_acquire);
  while (r) {
    FiberRecord* next = r->handoff_next.load(std::memory_order_relaxed);
    if (r->ctx == switching) {
      hand_off(r);  // still on its way out (this very pick): next time
    } else {
      awakened(r->ctx);
    }
    r = next;
  }
}

Ctx* Worker::take_injected() noexcept {
  if (!rt->has_injected()) return nullptr;
  return rt->take_injected();
}

bool Worker::ripe(unsigned k, const Worker* v, std::int64_t& now_ns) noexcept {
  const std::uint32_t first = v->queue_.first_hint();
  const std::uint32_t end = v->queue_.end_hint();
  Sighting* s = k < kSighted ? &sightings_[k] : nullptr;
  if (first == end) {
    if (s) s->since = -1;
    return false;
  }
  if (!s) return true;
  if (now_ns < 0) now_ns = steady_ns();  // read once per pass, and only if some queue has fibers
  if (s->since < 0 || static_cast<std::int32_t>(first - s->end) >= 0) {
    // A first look, or all that was queued then has run since: the owner
    // keeps up. Time what is queued now.
    s->end = end;
    s->since = now_ns;
    return false;
  }
  return now_ns - s->since >= kStealAgeNs;
}

Ctx* Worker::steal() noexcept {
  const unsigned n = rt->started_workers();
  if (n < 2) return nullptr;
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 17;
  rng_ ^= rng_ << 5;
  unsigned start = rng_ % n;
  std::int64_t now = -1;
  for (unsigned i = 0; i < n; ++i) {
    const unsigned k = (start + i) % n;
    Worker* victim = rt->workers[k].get();
    if (victim == this || !ripe(k, victim, now)) continue;
    if (Ctx* ctx = victim->queue_.steal_into(queue_)) {
      // The sighting stays: while what it saw is still queued there, the
      // victim is behind, and the next steal need not wait.
      steals.fetch_add(1, std::memory_order_relaxed);
      return ctx;
    }
  }
  return nullptr;
}

void Worker::found_work() noexcept {
  // A worker woken to search has found something: let another one search, so
  // that the rest of the work spreads too.
  if (woken_searching.exchange(false, std::memory_order_acq_rel)) {
    if (rt->end_search()) rt->notify_idle();
  }
}

Ctx* Worker::pick_next() noexcept {
  // The context asking is the one leaving the CPU. If it parks detached,
  // detach it now (its park_lock keeps wakers off until the switch is done).
  Ctx* prev = running_.load(std::memory_order_relaxed);
  if (FiberRecord* r = prev ? record_of(prev) : nullptr; r && r->detach_pending) {
    r->detach_pending = false;
    sched->detach_worker_context(prev);
  }
  if (handoff_.load(std::memory_order_relaxed)) drain_handoffs(prev);
  if (stuck_.load(std::memory_order_relaxed)) stuck_.store(false, std::memory_order_relaxed);
  Ctx* ctx = choose();
  switches_.store(switches_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  // Null: Boost runs its dispatcher next, which has no record.
  running_.store(ctx, std::memory_order_relaxed);
  if (ctx && woken_searching.load(std::memory_order_relaxed) && !is_dispatcher(ctx)) found_work();
  return ctx;
}

Ctx* Worker::choose() noexcept {
  if (!dispatcher_) maintain();  // the dispatcher itself asks: housekeeping first
  const bool periodic = --dispatch_countdown_ == 0;
  if (periodic) dispatch_countdown_ = kDispatchInterval;
  if (dispatcher_ && (periodic || remote_pending_.load(std::memory_order_relaxed))) {
    remote_pending_.store(false, std::memory_order_relaxed);
    if (periodic) {
      // Fairness for the injection queue (fibers from outside, and the
      // overflow of full local queues): pull a batch in now and then, as
      // much as fits in half the free room, so that a saturated worker does
      // not serve them one per pass while its own queue keeps refilling.
      const std::uint32_t room = RunQueue<Ctx>::kCapacity - std::min(queue_.size_hint(), RunQueue<Ctx>::kCapacity);
      std::uint32_t batch = std::max<std::uint32_t>(1, room / 2);
      while (batch-- != 0) {
        Ctx* inj = take_injected();
        if (!inj) break;
        push_stealable(inj);
      }
    }
    return std::exchange(dispatcher_, nullptr);
  }
  if (!pinned_.empty()) {
    Ctx* ctx = &pinned_.front();
    pinned_.pop_front();
    return ctx;
  }
  if (lifo_.load(std::memory_order_relaxed)) {
    Ctx* ctx = lifo_.exchange(nullptr, std::memory_order_acq_rel);
    if (ctx && lifo_streak_ < kMaxLifoStreak) {
      ++lifo_streak_;
      return attach(ctx);
    }
    // The slot has had its turns: its fiber queues behind the others.
    if (ctx) push_stealable(ctx);
  }
  lifo_streak_ = 0;
  if (Ctx* ctx = queue_.pop()) {
    if (cold_pops_ != 0) {
      --cold_pops_;
      prefetch_queued();
    }
    return attach(ctx);
  }
  cold_pops_ = 0;  // those fibers have all run, or gone to other workers
  if (Ctx* ctx = take_injected()) return attach(ctx);
  if (dispatcher_) return std::exchange(dispatcher_, nullptr);
  // Only the dispatcher gets here: this worker has nothing at all.
  if (Ctx* ctx = steal()) return attach(ctx);
  return nullptr;
}

namespace {
// What a parked fiber's resumption touches below its context: the frames of
// its wait down to the switch (about 1 KiB for a sleep or a socket read).
constexpr std::size_t kParkedFrames = 1024;

// queued_record() is the record of a context peeked at in the run queue, or
// null. The fiber may have been stolen, run and ended since, its stack
// reused, so the pointer read from the context is trusted only where a
// record can be: above the context, within the kStackTop bytes at the top
// of the stack that hold both (spawn.cpp). Stack memory stays mapped while
// the runtime runs, and that part of it has no guard page, so even a stale
// read reads mapped memory; what it yields is only ever prefetched. Not
// checked by AddressSanitizer: a stale read may land in a live frame's
// redzone.
__attribute__((no_sanitize("address"))) const FiberRecord* queued_record(const Ctx* c) noexcept {
  const auto p = reinterpret_cast<std::uintptr_t>(c);
  const auto r = reinterpret_cast<std::uintptr_t>(record_of(const_cast<Ctx*>(c)));
  const std::uintptr_t top = (p | (kStackTop - 1)) + 1;  // stacks end kStackTop-aligned
  if (r <= p || r - p >= kRecordReach || r + sizeof(FiberRecord) > top) return nullptr;
  return reinterpret_cast<const FiberRecord*>(r);
}

// queued_task() is the task queued_record(c) runs, as a hint.
__attribute__((no_sanitize("address"))) const void* queued_task(const Ctx* c) noexcept {
  const FiberRecord* r = queued_record(c);
  return r ? r->task : nullptr;
}
}  // namespace

void Worker::prefetch_queued() noexcept {
  // A fiber that waited long (a sleeper, a connection gone quiet) is cold:
  // resuming it misses on its context, the frames it parked in, its record
  // and its task, each found through the one before. Fetch them for the
  // fibers queued next instead, a stage per pop: each stage reads only what
  // the stage before it fetched at the previous pop, so none of these reads
  // waits on memory. Hints only: a prefetch never faults.
  if (const Ctx* c = queue_.peek_hint(0)) {
    if (const auto* t = static_cast<const char*>(queued_task(c))) {
      // The task's own fields, and what follows them: the function's captures.
      __builtin_prefetch(t, 1);
      __builtin_prefetch(t + 64, 1);
    }
  }
  if (const Ctx* c = queue_.peek_hint(1)) {
    if (const FiberRecord* r = queued_record(c)) {
      const char* p = reinterpret_cast<const char*>(r);
      for (std::size_t off = 0; off < sizeof(FiberRecord); off += 64) __builtin_prefetch(p + off, 1);
    }
  }
  if (const Ctx* c = queue_.peek_hint(2)) {
    // The context, and below it the frames down to the switch.
    const char* p = reinterpret_cast<const char*>(c);
    for (std::size_t off = 0; off < sizeof(boost::fibers::context); off += 64) __builtin_prefetch(p + off, 1);
    for (std::size_t off = 64; off <= kParkedFrames; off += 64) __builtin_prefetch(p - off, 1);
  }
}

bool Worker::has_ready_fibers() const noexcept {
  if (handing_over_) return dispatcher_ != nullptr;  // retire_caller(): choose() gives it up
  return has_lifo() || !pinned_.empty() || queue_.size_hint() != 0 || handoff_.load(std::memory_order_relaxed);
}

bool Worker::work_visible() noexcept {
  saw_young_ = false;
  if (remote_pending_.load(std::memory_order_acquire) || rt->has_injected()) return true;
  const unsigned n = rt->started_workers();
  std::int64_t now = -1;
  for (unsigned i = 0; i < n; ++i) {
    Worker* v = rt->workers[i].get();
    if (v == this || v->queued() == 0) continue;
    if (ripe(i, v, now)) return true;
    saw_young_ = true;
  }
  return false;
}

void Worker::suspend_until(std::chrono::steady_clock::time_point tp) noexcept {
  idle_.store(true, std::memory_order_relaxed);
  suspend_until_impl(tp);
  idle_.store(false, std::memory_order_relaxed);
}

std::string Worker::running_name() const {
  Ctx* ctx = running();
  FiberRecord* rec = ctx ? record_of(ctx) : nullptr;
  if (!rec) return "(scheduler)";
  const TaskBase* task = rec->task;
  if (!task) return "(between tasks)";
  const char* n = task->name();
  std::string s(n, strnlen(n, 64));
  return s.empty() ? "(unnamed)" : s;
}

std::chrono::microseconds Worker::idle_spin() const noexcept {
  // A lone worker has no peer to hand it fibers: what wakes it (a socket, a
  // deadline, a fiber from another thread) wakes it in its reactor as well.
  if (!rt->cfg.idle_spin_set() && rt->started_workers() < 2) return std::chrono::microseconds(0);
  return rt->cfg.idle_spin();
}

void Worker::suspend_until_impl(std::chrono::steady_clock::time_point tp) noexcept {
  using clock = std::chrono::steady_clock;
  tp = std::min(tp, timers_.next_deadline());
  // Spares due to end: the dispatcher's next pick (maintain()) ends a batch.
  if (spares_.ending()) return;
  // Spares passed on and left unused: wake to take them in (maintain()).
  const std::int64_t unused_at = rt->spares.unused_at();
  if (unused_at != std::numeric_limits<std::int64_t>::max())
    tp = std::min(tp, clock::time_point(std::chrono::nanoseconds(unused_at)));
  // Wake to look at the spares a burst left, at the end of their window.
  const std::int64_t look = spares_.next_look();
  if (look != std::numeric_limits<std::int64_t>::max())
    tp = std::min(tp, clock::time_point(std::chrono::nanoseconds(look)));
  // The dispatcher drains the remote queue right after this returns.
  if (remote_pending_.exchange(false, std::memory_order_acquire)) return;
  // Spin: a fiber handed over by another thread is picked up without the
  // 25-35 us it costs to wake a parked thread on a virtual machine.
  if (!woken_searching.exchange(true, std::memory_order_acq_rel)) rt->begin_search();
  const auto spin = idle_spin();
  auto spin_end = clock::now() + spin;
  for (unsigned i = 0;; ++i) {
    if (remote_pending_.exchange(false, std::memory_order_acquire)) return;
    if (work_visible()) return;  // stays searching until it finds the work
    // A burst of spawns draws on fresh stacks: commit the next ones' top
    // pages (stack_preparer.cpp). Then, if a spawn found no fiber to reuse,
    // build the next ones, one per turn, until enough wait (build_ahead()
    // then clears the want). Between two, look for work (and sockets). This
    // is not idling, so it goes on past the spin, however short: a worker
    // that built one per wake-up would never get there, and would build
    // forever while the window ends what it built.
    const bool worked = (rt->stacks.preparing_wanted() && rt->stacks.prepare_some()) ||
                        (rt->spares.wanted() && build_ahead());
    if (worked || (i & 63) == 63) {
      auto now = clock::now();
      if (worked) spin_end = now + spin;
      if (now >= tp) return;
      if (!worked && now >= spin_end) break;
      // Sockets count as work too: a peer's reply often lands within the spin.
      // A batch at a time, as in maintain().
      if (rt->reactor.has_sources() && rt->reactor.poll(this, std::chrono::nanoseconds(0), kPollBatch) > 0) return;
      if (steal_lifo(to_ns(now))) return;
    }
    spin_pause();
  }
  if (steal_lifo(steady_ns())) return;
  // Park. Register as a sleeper before leaving the searchers, then look once
  // more: a fiber pushed after that look sees a sleeper and no searcher, and
  // wakes someone.
  rt->add_sleeper(this);
  if (woken_searching.exchange(false, std::memory_order_acq_rel)) rt->end_search();
  if (!work_visible()) {
    parks.fetch_add(1, std::memory_order_relaxed);
    // Fibers queued elsewhere that were too fresh to take: look again once
    // they would be ripe, in case their worker got stuck meanwhile.
    if (saw_young_) tp = std::min(tp, clock::now() + std::chrono::nanoseconds(kStealAgeNs));
    // With descriptors registered, block in the reactor if nobody else does:
    // a socket that turns ready then wakes its fiber on this very thread
    // (a batch at most, as in maintain()).
    bool polled = false;
    if (rt->reactor.has_sources() && parker_.begin_poll()) {
      auto now = clock::now();
      auto timeout = tp == clock::time_point::max() ? std::chrono::nanoseconds(-1)
                     : tp <= now                     ? std::chrono::nanoseconds(0)
                                                     : std::chrono::nanoseconds(tp - now);
      polled = rt->reactor.poll(this, timeout, kPollBatch) >= 0;
      parker_.end_poll();
    }
    if (!polled && rt->reactor.has_sources() && !rt->reactor.blocking_poller_active()) {
      // Someone polls without blocking (a busy worker's pass, the reactor
      // thread): look again soon rather than leave sockets unwatched.
      tp = std::min(tp, clock::now() + std::chrono::milliseconds(1));
    }
    if (!polled) parker_.park_until(tp);
  }
  rt->remove_sleeper(this);
}

bool Worker::steal_lifo(std::int64_t t) noexcept {
  // All of them, started or not: a spare may start while we spin.
  const unsigned n = std::min<unsigned>(static_cast<unsigned>(rt->workers.size()), kSighted);
  for (unsigned k = 0; k < n; ++k) {
    Worker* v = rt->workers[k].get();
    if (v == this) continue;
    Sighting& s = sightings_[k];
    const std::uint64_t sw = v->switches();
    if (!v->has_lifo()) {
      s.lifo_since = -1;
      continue;
    }
    if (s.lifo_since < 0 || sw != s.switches) {
      // It picks fibers: its LIFO fiber runs soon.
      s.switches = sw;
      s.lifo_since = t;
      continue;
    }
    // Go steals a busy processor's next goroutine only on its last pass, for
    // the same reason: the owner usually runs it within microseconds.
    if (t - s.lifo_since < kStealAgeNs) continue;
    if (Ctx* ctx = v->lifo_.exchange(nullptr, std::memory_order_acq_rel)) {
      s.lifo_since = -1;
      steals.fetch_add(1, std::memory_order_relaxed);
      push_stealable(ctx);
      return true;
    }
  }
  return false;
}

void Worker::notify() noexcept {
  remote_pending_.store(true, std::memory_order_release);
  unpark();
}

}  // namespace weft::detail
