// See reactor.hpp. The wait protocol (no lost or stale wakeup with
// edge-triggered events):
//   - the caller tried the operation and got EAGAIN;
//   - under the source's lock: if an unconsumed edge is recorded, consume it
//     and retry at once (it may have come after the EAGAIN); otherwise publish
//     (ctx, epoch) as the direction's waiter and park;
//   - the poller, under the same lock, hands a new edge to the waiter (waking
//     it) or, with no waiter, records it for the next wait;
//   - a fiber that comes to wait while another one holds an edge it was
//     handed (and has not come back to wait since) retries once: its failed
//     attempt may predate that edge, and the data may still be there.
// A stale edge only costs one extra EAGAIN. Events carry (index, gen), so an
// event for a descriptor removed meanwhile is dropped.
#include "reactor.hpp"

#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "fiber_record.hpp"
#include "log.hpp"
#include "steady_ns.hpp"
#include "timers.hpp"
#include "wait.hpp"
#include "worker.hpp"

namespace weft::detail {

namespace {
constexpr std::uint32_t kChunk = 1024;

std::uint64_t token_of(const IoSource* s, std::uint32_t gen) noexcept {
  return static_cast<std::uint64_t>(s->index) << 32 | gen;
}
}  // namespace

Reactor::Reactor() { chunks_.reserve(std::size(chunk_index_)); }

Reactor::~Reactor() { stop(); }

void Reactor::start(std::string thread_name, std::function<void()> on_tick) {
  stop_.store(0);
  on_tick_ = std::move(on_tick);
  thread_ = std::thread([this, name = std::move(thread_name)] {
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    thread_main();
  });
}

void Reactor::stop() noexcept {
  if (!thread_.joinable()) return;
  stop_.store(1, std::memory_order_release);
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&stop_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  thread_.join();
}

IoSource* Reactor::source_at(std::uint32_t index) noexcept {
  IoSource* base = chunk_index_[index / kChunk].load(std::memory_order_acquire);
  return base ? base + index % kChunk : nullptr;
}

IoSource* Reactor::add(int fd, std::uint32_t& gen) {
  int err = 0;
  if (IoSource* s = try_add(fd, gen, err)) return s;
  if (err == EMFILE) throw std::system_error(err, std::generic_category(), "weft: reactor is full");
  throw std::system_error(err, std::generic_category(), "weft: cannot watch descriptor " + std::to_string(fd));
}

IoSource* Reactor::try_add(int fd, std::uint32_t& gen, int& err) noexcept {
  IoSource* s;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!free_) {
      std::size_t n = chunks_.size();
      if (n >= std::size(chunk_index_)) {
        err = EMFILE;
        return nullptr;
      }
      std::unique_ptr<IoSource[]> chunk(new (std::nothrow) IoSource[kChunk]);
      if (!chunk) {
        err = ENOMEM;
        return nullptr;
      }
      for (std::uint32_t i = kChunk; i-- > 0;) {
        chunk[i].index = static_cast<std::uint32_t>(n * kChunk + i);
        chunk[i].next_free = free_;
        free_ = &chunk[i];
      }
      chunk_index_[n].store(chunk.get(), std::memory_order_release);
      chunks_.push_back(std::move(chunk));  // reserved at construction: no throw
    }
    s = free_;
    free_ = s->next_free;
  }
  {
    std::lock_guard<SpinLock> g(s->lock);
    s->fd = fd;
    s->ready = 0;
    s->closed = false;
    s->waiters[0].clear();
    s->waiters[1].clear();
    s->edge_owner[0] = s->edge_owner[1] = nullptr;
    gen = s->gen;
  }
  if (int e = poller_.add(fd, token_of(s, gen))) {
    std::lock_guard<std::mutex> lk(mu_);
    s->next_free = free_;
    free_ = s;
    err = e;
    return nullptr;
  }
  sources_.fetch_add(1, std::memory_order_relaxed);
  return s;
}

void Reactor::remove(IoSource* s, std::uint32_t gen) noexcept {
  {
    std::lock_guard<SpinLock> g(s->lock);
    if (s->gen != gen) return;
    poller_.remove(s->fd);
    ++s->gen;  // events and handles of the old registration now miss
    s->fd = -1;
    // Wake under the lock: a waiter that woke for another reason takes this
    // lock before it may leave, so its context is still there.
    for (auto& w : s->waiters) {
      if (Ctx* waiter = w.ctx()) wake(waiter, w.epoch);
      w.clear();
    }
  }
  sources_.fetch_sub(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lk(mu_);
  s->next_free = free_;
  free_ = s;
}

bool Reactor::wait(IoSource* s, std::uint32_t gen, int dir, std::chrono::steady_clock::time_point deadline,
                   FiberRecord* rec, Worker* w, std::error_code& ec, bool drained) noexcept {
  const std::uint32_t bit = dir == 0 ? kReadable : kWritable;
  boost::fibers::context* ctx = rec->ctx;
  std::size_t epoch;
  {
    std::lock_guard<SpinLock> g(s->lock);
    if (s->gen != gen) {
      ec = std::make_error_code(std::errc::bad_file_descriptor);
      return false;
    }
    if (s->ready & bit) {
      s->ready &= ~bit;
      s->edge_owner[dir] = ctx;  // as if handed to us
      return true;
    }
    if (drained && s->closed) return true;
    if (boost::fibers::context* owner = s->edge_owner[dir]) {
      s->edge_owner[dir] = nullptr;
      // Another fiber was handed the last edge and has not drained since:
      // our failure may be older than that edge, so retry once. (The owner
      // itself comes back after a failure that followed its edge.)
      if (owner != ctx) return true;
    }
    if (s->waiters[dir].ctx()) {
      ec = std::make_error_code(std::errc::device_or_resource_busy);
      return false;
    }
    epoch = new_epoch(ctx);
    s->waiters[dir].set(ctx, epoch);
  }
  (void)w;
  WaitResult r = wait_until(rec, epoch, deadline);
  bool handed_edge;
  {
    std::lock_guard<SpinLock> g(s->lock);
    handed_edge = !(s->gen == gen && s->waiters[dir].ctx() == ctx && s->waiters[dir].epoch == epoch);
    if (!handed_edge) s->waiters[dir].clear();
  }
  if (handed_edge) return true;  // ready, or removed (the retry reports EBADF)
  ec = std::make_error_code(r == WaitResult::cancelled ? std::errc::operation_canceled : std::errc::timed_out);
  return false;
}

namespace {
constexpr int kPrefetchBatch = 16;  // events in one poll, for dispatch() to prefetch
}  // namespace

void Reactor::dispatch(const PollEvent* evs, int n) noexcept {
  // With many connections, each event's slot and its waiter are cold (a
  // thousand parked fibers do not stay in cache next to the kernel's socket
  // buffers): fetch them all first, so that their misses overlap instead of
  // coming one at a time in the loop below. The waiter read here without
  // the lock is only a hint: a prefetch never faults, so a stale one is
  // harmless. A short batch is left alone: its few fibers are likely warm,
  // and there would be little to overlap.
  const bool prefetch = n >= kPrefetchBatch;
  for (int i = 0; prefetch && i < n; ++i) {
    if (const IoSource* s = source_at(static_cast<std::uint32_t>(evs[i].token >> 32))) {
      __builtin_prefetch(s, 1);
      __builtin_prefetch(reinterpret_cast<const char*>(s) + 64, 1);
    }
  }
  for (int i = 0; prefetch && i < n; ++i) {
    const IoSource* s = source_at(static_cast<std::uint32_t>(evs[i].token >> 32));
    if (!s) continue;
    for (const auto& wt : s->waiters)
      if (const Ctx* waiter = wt.ctx()) prefetch_fiber(waiter);
  }
  for (int i = 0; i < n; ++i) {
    IoSource* s = source_at(static_cast<std::uint32_t>(evs[i].token >> 32));
    if (!s) continue;
    const auto gen = static_cast<std::uint32_t>(evs[i].token);
    std::lock_guard<SpinLock> g(s->lock);
    if (s->gen != gen) continue;
    if (evs[i].ready & kClosed) s->closed = true;
    for (int dir = 0; dir < 2; ++dir) {
      std::uint32_t bit = dir == 0 ? kReadable : kWritable;
      if (!(evs[i].ready & bit)) continue;
      if (Ctx* waiter = s->waiters[dir].ctx()) {
        // Hand the edge to the waiter (it retries the operation anyway). Wake
        // under the lock: see remove().
        wake(waiter, s->waiters[dir].epoch);
        s->edge_owner[dir] = waiter;
        s->waiters[dir].clear();
      } else {
        s->ready |= bit;
      }
    }
  }
}

int Reactor::poll(Worker* w, std::chrono::nanoseconds timeout, int max_events) noexcept {
  if (token_.load(std::memory_order_relaxed) || token_.exchange(true, std::memory_order_acquire)) return -1;
  const bool blocking = timeout.count() != 0;
  if (blocking) blocking_poller_.store(true, std::memory_order_relaxed);
  PollEvent evs[kMaxEvents];
  int n = poller_.wait(evs, std::clamp(max_events, 1, kMaxEvents), timeout);
  last_poll_ns_.store(steady_ns(), std::memory_order_relaxed);
  if (blocking) blocking_poller_.store(false, std::memory_order_relaxed);
  token_.store(false, std::memory_order_release);
  (void)w;
  dispatch(evs, n);
  return n;
}

void Reactor::thread_main() noexcept {
  // Sleep with backoff; poll only when no worker has for a millisecond.
  std::int64_t period_ns = 1'000'000;
  constexpr std::int64_t kMinPeriod = 1'000'000, kMaxPeriod = 10'000'000;
  while (!stop_.load(std::memory_order_acquire)) {
    timespec ts{0, static_cast<long>(period_ns)};
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&stop_), FUTEX_WAIT_PRIVATE, 0, &ts, nullptr, 0);
    if (stop_.load(std::memory_order_acquire)) break;
    if (on_tick_) on_tick_();
    bool needed = has_sources() && !blocking_poller_.load(std::memory_order_relaxed) &&
                  steady_ns() - last_poll_ns_.load(std::memory_order_relaxed) >= kMinPeriod;
    if (needed && poll(nullptr, std::chrono::nanoseconds(0)) > 0) {
      period_ns = kMinPeriod;
    } else {
      period_ns = period_ns * 2 > kMaxPeriod ? kMaxPeriod : period_ns * 2;
    }
  }
}

}  // namespace weft::detail
