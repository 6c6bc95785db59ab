// select: one Waiter behind a WaitNode in the queue of every channel it
// names. Wakers claim the Waiter under their own channel's lock; the first
// claim wins, and the nodes in the other queues turn dead (the next waker
// there drops them, or the select takes them out when it wakes).
//
// Fairness: both passes scan the cases from a random start. Go shuffles the
// whole order; a random start is cheaper and still gives each of k ready cases
// at least a 1/n chance per select, so none can starve.
#include <weft/detail/channel_select.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>

namespace weft::detail {

namespace {

// random_below() is a uniform pick in [0, n), from a per-thread
// xorshift64 generator (its state is read and written before anything parks).
std::size_t random_below(std::size_t n) noexcept {
  thread_local std::uint64_t state = [] {
    std::uint64_t s =
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    s ^= reinterpret_cast<std::uintptr_t>(&s) * 0x9E3779B97F4A7C15ull;
    return s ? s : 0x2545F4914F6CDD1Dull;
  }();
  std::uint64_t x = state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  state = x;
  return static_cast<std::size_t>(x % n);  // n is a handful of cases: the bias is nil
}

// AllLocked holds the locks of distinct channels, taken in address order.
class AllLocked {
 public:
  AllLocked(ChannelBase** chans, std::size_t n) noexcept : chans_(chans), n_(n) {
    for (std::size_t i = 0; i < n_; ++i) chans_[i]->lock.lock();
  }
  ~AllLocked() {
    for (std::size_t i = n_; i-- > 0;) chans_[i]->lock.unlock();
  }
  AllLocked(const AllLocked&) = delete;
  AllLocked& operator=(const AllLocked&) = delete;

 private:
  ChannelBase** chans_;
  std::size_t n_;
};

WaitQueue& queue_of(SelectCase* c) noexcept { return c->sends ? c->ch->senders : c->ch->receivers; }

}  // namespace

SelectResult select_run(SelectCase* const* cases, std::size_t n, ChannelBase** locks, bool block,
                        Deadline d) {
  const std::size_t start = n > 1 ? random_below(n) : 0;
  auto at = [&](std::size_t k) {
    std::size_t i = start + k;
    return i >= n ? i - n : i;
  };

  // First pass: one lock at a time; a ready case costs one lock round trip.
  // When the pass may end in a park, a buffered channel that looks empty (or
  // full) is not even locked: the locked pass before parking looks again.
  const std::uintptr_t me = thread_site();
  Wakeup wake;  // outlives every lock below
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = at(k);
    SelectCase* c = cases[i];
    if (block && c->spins() && !c->may_complete()) continue;
    ChannelGuard g(c->ch->lock);
    Sites::note(c->sends ? c->ch->sites.sender : c->ch->sites.receiver, me);
    if (Ready r = c->poll_locked(wake); r != Ready::not_ready) return {static_cast<int>(i), r};
  }
  if (!block) return {};

  // Spin while a counterpart on another thread may be about to act.
  auto spins = [me](SelectCase* c) {
    return c->spins() &&
           Sites::elsewhere(c->sends ? c->ch->sites.receiver : c->ch->sites.sender, me);
  };
  if (std::any_of(cases, cases + n, spins) && stays_put()) {
    Spinner spin(d);
    while (spin.next()) {
      for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = at(k);
        if (!cases[i]->may_complete()) continue;
        ChannelGuard g(cases[i]->ch->lock);
        if (Ready r = cases[i]->poll_locked(wake); r != Ready::not_ready)
          return {static_cast<int>(i), r};
      }
    }
  }

  // Second pass under every lock: nothing can change between the last look
  // and the parking, so a value sent meanwhile is not missed.
  std::size_t m = 0;
  for (std::size_t i = 0; i < n; ++i) locks[m++] = cases[i]->ch;
  std::sort(locks, locks + m, std::less<ChannelBase*>());  // std::less: a total order
  m = static_cast<std::size_t>(std::unique(locks, locks + m) - locks);
  Waiter w;
  {
    AllLocked all(locks, m);
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = at(k);
      if (Ready r = cases[i]->poll_locked(wake); r != Ready::not_ready) return {static_cast<int>(i), r};
    }
    for (std::size_t i = 0; i < n; ++i) {
      WaitNode& node = cases[i]->node;
      node.waiter = &w;
      node.branch = static_cast<int>(i);
      node.outcome = Ready::not_ready;
      queue_of(cases[i]).push_back(&node);
    }
  }

  const WaitStatus st = w.wait(d);
  for (std::size_t i = 0; i < n; ++i) {
    ChannelGuard g(cases[i]->ch->lock);
    if (cases[i]->node.queued) queue_of(cases[i]).remove(&cases[i]->node);
  }
  if (w.claimed()) return {w.tag, cases[w.tag]->node.outcome};
  return {-1, Ready::not_ready, st};
}

}  // namespace weft::detail
