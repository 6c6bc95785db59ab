// See timers.hpp.
#include "timers.hpp"

#include "fiber_record.hpp"
#include "spin_lock.hpp"
#include "wait.hpp"

namespace weft::detail {

namespace {
constexpr std::size_t kChunk = 1024;
constexpr std::uint64_t kStatusMask = 3;
static_assert(sizeof(TimerNode) == 64);
}  // namespace

Timers::~Timers() = default;

std::uint64_t Timers::to_tick(Clock::time_point tp) const noexcept {
  if (tp <= base_) return 0;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(tp - base_).count();
  // Round up: a deadline never fires early.
  return static_cast<std::uint64_t>((ns + 999'999) / 1'000'000);
}

TimerNode* Timers::alloc() {
  if (!free_) {
    auto chunk = std::make_unique<TimerNode[]>(kChunk);
    for (std::size_t i = 0; i < kChunk; ++i) {
      chunk[i].owner = this;
      push_free(&chunk[i]);
    }
    chunks_.push_back(std::move(chunk));
  }
  TimerNode* n = free_;
  free_ = n->next_free;
  return n;
}

void Timers::release(TimerNode* n) noexcept {
  // New generation, status free: handles to the old use no longer match.
  std::uint64_t s = n->state.load(std::memory_order_relaxed);
  n->state.store(((s >> 2) + 1) << 2 | kFree, std::memory_order_release);
  push_free(n);
  pending_.store(pending_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

TimerHandle Timers::arm(Clock::time_point deadline, boost::fibers::context* ctx, std::size_t epoch) {
  TimerNode* n = alloc();
  std::uint64_t gen = n->state.load(std::memory_order_relaxed) >> 2;
  n->ctx = ctx;
  n->epoch = epoch;
  try {
    wheel_.insert(n, to_tick(deadline));
  } catch (...) {
    push_free(n);  // never armed: its generation stands
    throw;
  }
  n->state.store(gen << 2 | kArmed, std::memory_order_release);
  pending_.store(pending_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return TimerHandle{n, gen};
}

bool Timers::disarm(TimerHandle h, Timers* caller_timers) noexcept {
  if (!h.node) return false;
  TimerNode* n = h.node;
  std::uint64_t armed = h.gen << 2 | kArmed;
  if (n->owner == caller_timers) {
    // On the owner: unlink now, unless it fired already (then it is free).
    if (n->state.load(std::memory_order_relaxed) != armed) return true;
    caller_timers->wheel_.remove(n);
    caller_timers->release(n);
    return false;
  }
  if (!n->state.compare_exchange_strong(armed, h.gen << 2 | kCancelling, std::memory_order_acq_rel)) {
    // Being fired by its owner right now: wait until the wake is done.
    while (n->state.load(std::memory_order_acquire) == (h.gen << 2 | kFiring)) spin_pause();
    return true;
  }
  Timers* owner = n->owner;
  owner->withdrawn_.fetch_add(1, std::memory_order_relaxed);
  TimerNode* head = owner->cancels_.load(std::memory_order_relaxed);
  do {
    n->next_cancel.store(head, std::memory_order_relaxed);
  } while (!owner->cancels_.compare_exchange_weak(head, n, std::memory_order_release, std::memory_order_relaxed));
  return false;
}

void Timers::drain_cancels() noexcept {
  TimerNode* n = cancels_.exchange(nullptr, std::memory_order_acquire);
  while (n) {
    TimerNode* next = n->next_cancel.load(std::memory_order_relaxed);
    wheel_.remove(n);
    // Uncounted as withdrawn first, then as armed: a reader in between
    // counts it once more, never once less.
    withdrawn_.fetch_sub(1, std::memory_order_relaxed);
    release(n);
    n = next;
  }
}

std::size_t Timers::run(Clock::time_point now) noexcept {
  if (cancels_.load(std::memory_order_relaxed)) drain_cancels();
  if (wheel_.empty()) return 0;
  std::size_t fired = 0;
  // Time passed is rounded down, deadlines up: nothing fires early.
  std::uint64_t now_tick =
      now <= base_ ? 0 : static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now - base_).count());
  wheel_.advance(now_tick, [this, &fired](TimerEntry* e) {
                   auto* n = static_cast<TimerNode*>(e);
                   std::uint64_t s = n->state.load(std::memory_order_acquire);
                   if ((s & kStatusMask) == kArmed &&
                       n->state.compare_exchange_strong(s, (s & ~kStatusMask) | kFiring, std::memory_order_acq_rel)) {
                     if (wake(n->ctx, n->epoch)) ++fired;
                     release(n);  // new generation: a waiting disarm returns
                   }
                   // kCancelling: its owner pass (drain_cancels) frees it; it
                   // is unlinked already, so remove() there is a no-op.
                 },
                 // A slot of a busy wheel holds many sleepers whose contexts
                 // are cold: fetch each ahead of its wake().
                 [](TimerEntry* e) noexcept {
                   if (auto* ctx = static_cast<TimerNode*>(e)->ctx) prefetch_fiber(ctx);
                 });
  return fired;
}

Timers::Clock::time_point Timers::next_deadline() const noexcept {
  std::uint64_t t = wheel_.next_expiry();
  if (t == TimerWheel::kNever) return Clock::time_point::max();
  return base_ + std::chrono::milliseconds(t);
}

}  // namespace weft::detail
