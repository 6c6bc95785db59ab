// Reactor: a runtime's readiness driver. It owns the poller and one IoSource
// per registered descriptor; fibers park on a source until the poller reports
// the descriptor ready, a deadline passes, or they are cancelled.
//
// Whoever holds the poll token polls: an idle worker blocks in the poller
// itself (a fiber its events wake on that worker then runs without a thread
// hop), busy workers poll without blocking at each dispatcher pass, and the
// reactor thread polls when nobody else has for a millisecond (workers stuck
// in long computations), backing off to 10 ms when it is not needed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include <boost/fiber/context.hpp>

#include "poller.hpp"
#include "spin_lock.hpp"

namespace weft::detail {

class Worker;
class FiberRecord;

// IoSource is the reactor's record of one descriptor. Sources live in chunks
// and are reused; gen tells a stale event or handle from the current one.
struct IoSource {
  // Waiter is the fiber parked for one direction. Its ctx is atomic only so
  // that Reactor::dispatch() may read it without the lock, as a prefetch
  // hint; every access is relaxed, and the lock orders the rest.
  struct Waiter {
    std::atomic<boost::fibers::context*> ctx_{nullptr};
    std::size_t epoch = 0;
    boost::fibers::context* ctx() const noexcept { return ctx_.load(std::memory_order_relaxed); }
    void set(boost::fibers::context* c, std::size_t e) noexcept {
      ctx_.store(c, std::memory_order_relaxed);
      epoch = e;
    }
    void clear() noexcept { set(nullptr, 0); }
  };
  SpinLock lock;
  int fd = -1;
  std::uint32_t index = 0;
  std::uint32_t gen = 0;    // guarded by lock
  std::uint32_t ready = 0;  // readiness edges nobody has consumed (guarded by lock)
  bool closed = false;      // a kClosed edge came: hung up or failed for good (guarded by lock)
  Waiter waiters[2];        // [0] read, [1] write (guarded by lock)
  // edge_owner[dir] is the fiber last handed an edge in that direction that
  // has not come back to wait since: until it does, the data that edge
  // announced may still be there, and another fiber's failed attempt may
  // predate the edge (two fibers reading one descriptor). Guarded by lock.
  boost::fibers::context* edge_owner[2] = {nullptr, nullptr};
  IoSource* next_free = nullptr;
};

class Reactor {
 public:
  Reactor();
  ~Reactor();

  // start()/stop() run the reactor thread; on_tick runs on it at every wakeup
  // (1 to 10 ms apart), for the runtime's monitor.
  void start(std::string thread_name, std::function<void()> on_tick);
  void stop() noexcept;

  // add() registers fd (made non-blocking by the caller). Throws system_error.
  IoSource* add(int fd, std::uint32_t& gen);
  // try_add() is add() that reports failure as an errno value in err and
  // returns null. It throws nothing and calls nothing an interposing library
  // could hook, so it may run under the hook's per-descriptor lock.
  IoSource* try_add(int fd, std::uint32_t& gen, int& err) noexcept;
  // remove() unregisters; fibers parked on it wake and see EBADF on retry.
  void remove(IoSource* src, std::uint32_t gen) noexcept;

  // wait() parks the calling fiber until src is ready in direction dir
  // (0 read, 1 write). True: retry the operation. False: ec says why
  // (timed_out, operation_canceled, bad_file_descriptor, device_or_resource_busy).
  // drained: the caller has not seen EAGAIN, but its last read emptied the
  // descriptor; then a hang-up seen earlier returns at once (its edge is
  // gone, and the read will report it).
  bool wait(IoSource* src, std::uint32_t gen, int dir, std::chrono::steady_clock::time_point deadline,
            FiberRecord* rec, Worker* w, std::error_code& ec, bool drained = false) noexcept;

  // poll() polls if the token is free; timeout zero does not block. Returns
  // the number of events handled, or -1 if someone else holds the token.
  // w is the polling worker, or null. At most max_events are taken; the rest
  // stay in the kernel's ready list, in order, for the next poll.
  static constexpr int kMaxEvents = 256;
  int poll(Worker* w, std::chrono::nanoseconds timeout, int max_events = kMaxEvents) noexcept;

  // will_poll() tells the reactor thread that a busy worker, which looked
  // at t, will poll soon: no need to poll for it.
  void will_poll(std::int64_t t) noexcept { last_poll_ns_.store(t, std::memory_order_relaxed); }

  // interrupt() wakes a poll blocked by a worker. Any thread.
  void interrupt() noexcept { poller_.interrupt(); }

  bool blocking_poller_active() const noexcept { return blocking_poller_.load(std::memory_order_relaxed); }
  bool has_sources() const noexcept { return sources_.load(std::memory_order_relaxed) != 0; }
  std::size_t sources() const noexcept { return sources_.load(std::memory_order_relaxed); }

 private:
  void thread_main() noexcept;
  void dispatch(const PollEvent* evs, int n) noexcept;
  IoSource* source_at(std::uint32_t index) noexcept;

  Poller poller_;
  std::atomic<bool> token_{false};
  std::atomic<bool> blocking_poller_{false};
  std::atomic<std::int64_t> last_poll_ns_{0};

  std::mutex mu_;  // guards chunks_ and free_
  std::vector<std::unique_ptr<IoSource[]>> chunks_;
  std::atomic<IoSource*> chunk_index_[1024] = {};  // chunk base by chunk number, for lock-free lookup
  IoSource* free_ = nullptr;
  std::atomic<std::size_t> sources_{0};

  std::thread thread_;
  std::function<void()> on_tick_;
  std::atomic<std::uint32_t> stop_{0};
};

}  // namespace weft::detail
