// Nothing leaks at teardown: no fiber or stack once all are joined, no worker
// or blocking thread once the runtime is shut down, and the process's thread
// and descriptor counts return to what they were before the runtime existed.
#include <atomic>
#include <memory>
#include <vector>

#include "support.hpp"

using namespace weft_test;

namespace {

// mixed_work() exercises every resource a runtime may take: stacks (spawns),
// timers (sleeps), the blocking pool (unblock), cross-worker wakes (joins).
void mixed_work(weft::Runtime& rt) {
  std::vector<weft::JoinHandle<int>> hs;
  for (int i = 0; i < 1'000; ++i) {
    hs.push_back(rt.spawn([i] {
      if (i % 50 == 0) return weft::unblock([i] { return i; });
      if (i % 7 == 0) weft::this_fiber::sleep_for(std::chrono::milliseconds(i % 3));
      auto child = weft::spawn([i] { return i; });
      weft::this_fiber::yield();
      return child.join();
    }));
  }
  long long sum = 0;
  for (auto& h : hs) sum += h.join();
  CHECK(sum == 999LL * 1'000 / 2);
}

// check_no_fibers_left() waits, bounded, for the counters of a runtime whose
// fibers have all been joined. A joiner may wake a moment before the joined
// fiber's stack is handed back, hence the wait rather than a snapshot.
void check_no_fibers_left(weft::Runtime& rt) {
  wait_until([&] {
    weft::RuntimeStats s = rt.stats();
    return s.live_fibers == 0 && s.stacks_in_use == 0 && s.pending_timers == 0;
  }, 2s);
  weft::RuntimeStats s = rt.stats();
  CHECK(s.live_fibers == 0);
  CHECK(s.stacks_in_use == 0);
  CHECK(s.pending_timers == 0);
  CHECK(s.registered_fds == 0);
}

void check_stopped(weft::Runtime& rt) {
  weft::RuntimeStats s = rt.stats();
  CHECK(s.workers_running == 0);
  CHECK(s.blocking_threads == 0);
  CHECK(s.live_fibers == 0);
  CHECK(s.stacks_in_use == 0);
  CHECK(s.pending_timers == 0);
  CHECK(s.registered_fds == 0);
}

}  // namespace

TEST_CASE("no fiber, stack or thread left after join and shutdown") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "teardown after shutdown");
  const int threads0 = thread_count();
  const int fds0 = fd_count();
  {
    weft::Runtime rt(config(workers));
    int fds_stopped = -1;
    for (int cycle = 0; cycle < 3; ++cycle) {
      CAPTURE(cycle);
      mixed_work(rt);
      check_no_fibers_left(rt);
      // (A spare may have joined them: a worker held up in the kernel with
      // fibers queued behind it gets one, and shutdown stops spares too.)
      CHECK(rt.stats().workers_running >= workers);
      rt.shutdown();
      check_stopped(rt);
      // Threads are joined by shutdown; the kernel drops their /proc entry
      // a moment after the join returns.
      CHECK(wait_until([&] { return thread_count() == threads0; }, 2s));
      // A stopped runtime may keep its poller descriptors for a restart,
      // but a restart must not add more.
      if (cycle == 0) fds_stopped = fd_count();
      CHECK(fd_count() == fds_stopped);
    }
  }
  // Destroyed: everything is back.
  CHECK(thread_count() == threads0);
  CHECK(fd_count() == fds0);
}

TEST_CASE("shutdown with the fibers of a burst kept for reuse, or ending, leaves nothing behind") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(90s, "teardown with spare fibers");
  constexpr std::size_t kFibers = 3'000;
  weft::Runtime rt(config(workers));
  // Cycle 0 and 2 stop right after the burst, with every fiber kept; cycle 1
  // once the kept fibers have begun to end (half a second unneeded).
  for (int cycle = 0; cycle < 3; ++cycle) {
    CAPTURE(cycle);
    rt.start();
    burst(rt, kFibers);
    const std::size_t kept = rt.stats().spare_fibers;
    CHECK(kept >= kFibers / 2);
    if (cycle == 1) CHECK(wait_until([&] { return rt.stats().spare_fibers < kept; }, 5s));
    rt.shutdown();
    check_stopped(rt);
    CHECK(rt.stats().spare_fibers == 0);
  }
}

TEST_CASE("destroying a running runtime releases its threads and descriptors") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "teardown by destructor");
  const int threads0 = thread_count();
  const int fds0 = fd_count();
  for (int cycle = 0; cycle < 3; ++cycle) {
    CAPTURE(cycle);
    weft::Runtime rt(config(workers));
    mixed_work(rt);
  }
  CHECK(wait_until([&] { return thread_count() == threads0; }, 2s));
  CHECK(fd_count() == fds0);
}

TEST_CASE("fibers still alive at shutdown are cancelled without leaking") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "teardown with live fibers");
  const int threads0 = thread_count();
  const int fds0 = fd_count();
  auto rt_holder = std::make_unique<weft::Runtime>(config(workers));
  weft::Runtime& rt = *rt_holder;
  std::atomic<int> started{0}, unwound{0};
  struct Unwind {
    std::atomic<int>& n;
    ~Unwind() { n.fetch_add(1); }
  };
  for (int i = 0; i < 500; ++i) {
    rt.spawn([&, i] {
      Unwind u{unwound};
      started.fetch_add(1);
      if (i % 3 == 0) {
        weft::this_fiber::sleep_for(std::chrono::hours(1));
      } else if (i % 3 == 1) {
        weft::unblock([] {});  // so the pool has threads to stop
        weft::this_fiber::sleep_for(std::chrono::hours(1));
      } else {
        for (;;) weft::this_fiber::yield();
      }
    });  // dropped: detached
  }
  REQUIRE(wait_until([&] { return started.load() == 500; }, 10s));
  CHECK(rt.stats().live_fibers == 500);
  rt.shutdown();
  CHECK(unwound.load() == 500);
  check_stopped(rt);
  CHECK(wait_until([&] { return thread_count() == threads0; }, 2s));
  rt_holder.reset();
  CHECK(fd_count() == fds0);
}

// A fiber that waits with a deadline files it on the worker it parks on. If
// another worker's fiber wakes it, it resumes there and withdraws the
// deadline from afar; the owner unlinks it at its next pass, which for an
// idle owner is when the deadline would have fired. RuntimeStats must not
// count it meanwhile: "no timer left" would otherwise wait an hour here.
TEST_CASE("a deadline withdrawn from another worker stops counting at once, though its owner sleeps") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "withdrawn deadline");
  weft::Runtime rt(config(workers));
  bool moved = false;
  // One worker: nowhere to move, so one attempt (its setter gives up after 1 s).
  const int attempts = workers > 1 ? 50 : 1;
  for (int attempt = 0; attempt < attempts && !moved; ++attempt) {
    moved = rt.block_on([&rt] {
      weft::Event ev;
      std::atomic<int> parked_on{-1};
      auto waiter = weft::spawn([&] {
        parked_on.store(weft::this_fiber::worker_index());
        const bool woken = ev.wait_for(1h);
        CHECK(woken);
        const bool here_elsewhere = weft::this_fiber::worker_index() != parked_on.load();
        // Withdrawn just now from this worker; its owner may not look for an
        // hour. (If it happens to be unlinking the deadline right now, it is
        // counted once more for a moment, never once less: hence the poll.)
        if (here_elsewhere) CHECK(fiber_wait_until([&] { return rt.stats().pending_timers == 0; }, 1s));
        return here_elsewhere;
      });
      // Set from a worker other than the waiter's (1 worker: from its own).
      SetElsewhere setter(ev, parked_on.load(), 1s);
      setter.join();
      return waiter.join();
    });
  }
  if (workers > 1) REQUIRE(moved);
  // Nothing runs now, and the owner sleeps toward the hour.
  CHECK(wait_until([&] { return rt.stats().pending_timers == 0; }, 2s));
}
