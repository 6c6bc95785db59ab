// Current-thread runtimes (Config::current_thread): every fiber runs on the
// thread inside block_on(), join() or shutdown(), with no thread of the
// runtime's own; what may and may not be done from other threads.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace weft_test;

namespace {

weft::Config current() { return weft::Config{}.current_thread(true); }

// fan_out() spawns n fibers that sleep a little, yield and report the thread
// they ran on; returns how many ran on `thread`.
int fan_out(int n, std::thread::id thread) {
  std::vector<weft::JoinHandle<bool>> hs;
  for (int i = 0; i < n; ++i) {
    hs.push_back(weft::spawn([i, thread] {
      if (i % 8 == 0) weft::this_fiber::sleep_for(1ms);
      weft::this_fiber::yield();
      return std::this_thread::get_id() == thread;
    }));
  }
  int here = 0;
  for (auto& h : hs) here += h.join() ? 1 : 0;
  return here;
}

}  // namespace

TEST_CASE("a current-thread runtime runs every fiber on the caller's thread and starts no thread") {
  Watchdog dog(60s, "current-thread fan-out");
  const int threads_before = thread_count();
  const auto me = std::this_thread::get_id();
  weft::Runtime rt(current());
  CHECK(rt.worker_threads() == 1);
  int threads_inside = -1;
  const int here = rt.block_on([&] {
    threads_inside = thread_count();
    return fan_out(200, me);
  });
  CHECK(here == 200);
  CHECK(threads_inside == threads_before);
  CHECK(rt.stats().workers_running == 1);  // the caller's thread, bound to it
  rt.shutdown();
  CHECK(rt.stats().workers_running == 0);
  CHECK(thread_count() == threads_before);
}

TEST_CASE("weft::run on the caller's thread returns the value and rethrows the exception") {
  Watchdog dog(60s, "current-thread run");
  CHECK(weft::run(current(), [] { return 41 + 1; }) == 42);
  CHECK_THROWS_WITH_AS(weft::run(current(), []() -> int { throw std::runtime_error("boom"); }), "boom",
                       std::runtime_error);
  // The thread is free again for another current-thread runtime.
  CHECK(weft::run(current(), [] { return fan_out(10, std::this_thread::get_id()); }) == 10);
}

TEST_CASE("sockets and deadlines progress while the caller's thread drives the runtime") {
  Watchdog dog(60s, "current-thread sockets");
  const int fds_before = fd_count();
  weft::run(current(), [] {
    auto listener = weft::net::TcpListener::bind("127.0.0.1:0");
    auto server = weft::spawn([&] {
      auto [stream, peer] = listener.accept(5s);
      char buf[64];
      for (;;) {
        std::size_t n = stream.read_some(buf, sizeof buf, 5s);
        if (n == 0) return;
        stream.write_all(buf, n, 5s);
      }
    });
    auto client = weft::net::TcpStream::connect(listener.local_addr(), 5s);
    for (int i = 0; i < 100; ++i) {
      char msg[8] = {'p', 'i', 'n', 'g', char('0' + i % 10)};
      client.write_all(msg, sizeof msg, 5s);
      char back[8];
      client.read_exact(back, sizeof back, 5s);
      CHECK(std::memcmp(back, msg, sizeof msg) == 0);
    }
    client.shutdown(weft::net::Shutdown::write);
    server.join();
    // A deadline with nothing else to run: the thread waits in the poller.
    const auto t0 = Clock::now();
    weft::this_fiber::sleep_for(20ms);
    const auto slept = Clock::now() - t0;
    CHECK(slept >= 20ms);
    CHECK(slept < 2s);
  });
  CHECK(fd_count() == fds_before);
}

TEST_CASE("a blocking call on the blocking pool leaves the caller's thread running other fibers") {
  Watchdog dog(60s, "current-thread unblock");
  const auto me = std::this_thread::get_id();
  weft::run(current(), [&] {
    weft::Event release;
    std::atomic<int> ticks{0};
    auto blocked = weft::spawn([&] {
      // On a pool thread: waits (as a plain thread) until a fiber sets it.
      return weft::unblock([&] {
        const bool set = release.wait_for(10s);
        return set && std::this_thread::get_id() != me;
      });
    });
    auto ticker = weft::spawn([&] {
      for (int i = 0; i < 5; ++i) {
        weft::this_fiber::sleep_for(1ms);
        ticks.fetch_add(1);
      }
      release.set();
    });
    ticker.join();
    CHECK(ticks.load() == 5);
    CHECK(blocked.join());
  });
}

TEST_CASE("fibers left running wait between block_on calls; join() on the caller's thread runs them") {
  Watchdog dog(60s, "current-thread between calls");
  weft::Runtime rt(current());
  std::atomic<int> ticks{0};
  std::atomic<bool> stop{false};
  rt.block_on([&] {
    weft::spawn([&] {
      while (!stop.load()) {
        ticks.fetch_add(1);
        weft::this_fiber::sleep_for(1ms);
      }
    }).detach();
    weft::this_fiber::sleep_for(5ms);
  });
  // Outside block_on nothing runs the ticker: no tick in 20 ms.
  const int seen = ticks.load();
  CHECK(seen > 0);
  std::this_thread::sleep_for(20ms);
  CHECK(ticks.load() == seen);
  // A plain join() on this thread drives the runtime until its fiber is done.
  auto h = rt.spawn([&] {
    const int start = ticks.load();
    while (ticks.load() < start + 3) weft::this_fiber::sleep_for(1ms);
    return ticks.load() - start;
  });
  CHECK(h.join() >= 3);
  stop.store(true);
  rt.shutdown();
  CHECK(rt.stats().live_fibers == 0);
}

TEST_CASE("shutdown on the caller's thread cancels parked fibers and unwinds them there") {
  Watchdog dog(60s, "current-thread shutdown");
  const int fds_before = fd_count();
  const auto me = std::this_thread::get_id();
  std::atomic<int> unwound{0};
  std::atomic<int> unwound_here{0};
  {
    weft::Runtime rt(current());
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    rt.block_on([&] {
      auto reader = std::make_shared<weft::Async<weft::OwnedFd>>(weft::OwnedFd(sv[0]));
      for (int i = 0; i < 10; ++i) {
        weft::spawn([&, reader, i] {
          struct Unwind {
            std::atomic<int>& n;
            std::atomic<int>& here;
            std::thread::id me;
            ~Unwind() {
              n.fetch_add(1);
              if (std::this_thread::get_id() == me) here.fetch_add(1);
            }
          } u{unwound, unwound_here, me};
          if (i == 0) {
            char c;
            reader->read_with([&](weft::OwnedFd& fd) { return ::read(fd.native_handle(), &c, 1); });  // never written
          } else {
            weft::this_fiber::sleep_for(1h);
          }
        }).detach();
      }
      weft::this_fiber::sleep_for(2ms);  // let them all park
    });
    CHECK(rt.stats().live_fibers == 10);
    rt.shutdown();
    CHECK(rt.stats().live_fibers == 0);
    CHECK(rt.stats().registered_fds == 0);
    ::close(sv[1]);
  }
  CHECK(unwound.load() == 10);
  CHECK(unwound_here.load() == 10);
  CHECK(fd_count() == fds_before);
}

TEST_CASE("shutdown() on another thread waits while a current-thread runtime stops on its own") {
  Watchdog dog(60s, "concurrent current-thread shutdown");
  std::atomic<bool> started{false}, unwinding{false}, release{false}, fiber_done{false};
  std::atomic<bool> calling{false}, returned{false}, done_at_return{false}, stopped_at_return{false};
  std::atomic<pid_t> other_tid{0};
  weft::Runtime rt(current());
  rt.block_on([&] {
    weft::spawn([&] {
      started = true;
      try {
        weft::this_fiber::sleep_for(1h);
      } catch (const weft::Cancelled&) {
      }
      // Unwinding keeps this thread's shutdown busy until `release`; a plain
      // thread yield, not a fiber one, which would throw Cancelled again.
      unwinding = true;
      while (!release.load()) std::this_thread::yield();
      fiber_done = true;
    }).detach();
    // Inside its try block before the shutdown's cancel reaches it.
    while (!started.load()) weft::this_fiber::yield();
  });
  // The second caller: it must not return before the first has stopped the runtime.
  std::thread other([&] {
    other_tid = static_cast<pid_t>(::gettid());
    if (!wait_until([&] { return unwinding.load(); }, 20s)) return;
    calling = true;
    rt.shutdown();
    done_at_return = fiber_done.load();
    stopped_at_return = !rt.running();
    returned = true;
  });
  // The releaser: once the second caller sleeps in shutdown() (or has
  // returned, which the checks below refuse), the fiber may finish.
  std::thread releaser([&] {
    wait_until([&] { return calling.load(); }, 20s);
    wait_until([&] { return returned.load() || test_common::thread_state(other_tid.load()) == 'S'; }, 20s);
    release = true;
  });
  rt.shutdown();  // this thread runs the fiber until it has unwound
  CHECK(fiber_done.load());
  other.join();
  releaser.join();
  CHECK(returned.load());
  CHECK(done_at_return.load());
  CHECK(stopped_at_return.load());
  CHECK_FALSE(rt.running());
}

TEST_CASE("fibers of a runtime with N workers spawn into a current-thread runtime and join its fibers") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "current-thread cross-runtime");
  weft::Runtime other(config(workers));
  weft::Runtime rt(current());
  const auto me = std::this_thread::get_id();
  weft::Event go;
  const int sum = rt.block_on([&] {
    // The other runtime's fibers spawn here while this thread waits in go.
    auto from_other = other.spawn([&] {
      std::vector<weft::JoinHandle<int>> hs;
      for (int i = 0; i < 20; ++i) hs.push_back(rt.spawn([i, me] { return std::this_thread::get_id() == me ? i : -1000; }));
      int s = 0;
      for (auto& h : hs) s += h.join();  // parks the other runtime's fiber, not a thread
      go.set();
      return s;
    });
    CHECK(go.wait_for(10s));
    return from_other.join();
  });
  CHECK(sum == 19 * 20 / 2);
}

TEST_CASE("misuse of a current-thread runtime is refused with a clear error") {
  Watchdog dog(60s, "current-thread misuse");
  SUBCASE("more than one worker") {
    CHECK_THROWS_AS(weft::Runtime(weft::Config{}.current_thread(true).worker_threads(2)), std::invalid_argument);
    weft::Runtime one(weft::Config{}.current_thread(true).worker_threads(1));
    CHECK(one.block_on([] { return 7; }) == 7);
  }
  SUBCASE("block_on and shutdown on another thread than the one it is bound to") {
    weft::Runtime rt(current());
    CHECK(rt.block_on([] { return 1; }) == 1);
    bool block_refused = false, shutdown_refused = false;
    std::thread other([&] {
      try {
        rt.block_on([] { return 2; });
      } catch (const std::logic_error&) {
        block_refused = true;
      }
      try {
        rt.shutdown();
      } catch (const std::logic_error&) {
        shutdown_refused = true;
      }
    });
    other.join();
    CHECK(block_refused);
    CHECK(shutdown_refused);
    CHECK(rt.running());
    CHECK(rt.block_on([] { return 3; }) == 3);  // still fine here
    rt.shutdown();
    // Stopped, it binds anew: another thread may run it now.
    int got = 0;
    std::thread([&] { got = rt.block_on([] { return 4; }); rt.shutdown(); }).join();
    CHECK(got == 4);
  }
  SUBCASE("two current-thread runtimes on one thread at once") {
    weft::Runtime a(current()), b(current());
    CHECK(a.block_on([] { return 1; }) == 1);
    CHECK_THROWS_AS(b.block_on([] { return 2; }), std::logic_error);
    a.shutdown();
    CHECK(b.block_on([] { return 2; }) == 2);
  }
  SUBCASE("block_on or shutdown from inside a fiber") {
    weft::Runtime rt(current());
    weft::Runtime inner(current());
    rt.block_on([&] {
      CHECK_THROWS_AS(inner.block_on([] { return 1; }), std::logic_error);
      inner.start();
      CHECK_THROWS_AS(inner.shutdown(), std::logic_error);
    });
    rt.shutdown();
    inner.shutdown();  // from a plain thread, it stops
    CHECK_FALSE(inner.running());
  }
}
