// Helpers shared by the socket tests: the worker counts every runtime case
// runs with, a runner that checks a runtime leaves no descriptor,
// registration or timer behind, a watchdog for cases whose failure mode is a
// hang, and loopback connection helpers.
#pragma once

#include <dirent.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

#include <doctest/doctest.h>

#include "../doctest_fibers.hpp"
#include "../test_support.hpp"
#include <weft/net.hpp>
#include <weft/weft.hpp>

namespace net_test {

using test_common::cpu_time;
using test_common::ScratchDir;
using test_common::Watchdog;
using test_common::fiber_wait_until;
using test_common::parked_with_deadline;
using test_common::thrown_code;
using test_common::wait_until;
using test_common::fd_count;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace net = weft::net;

// Every runtime case runs with these worker counts: 1 takes the single-thread
// paths, 2 and 4 the stealing and cross-thread wake paths (4 oversubscribes a
// 2-core machine, which makes fibers move between threads more).
inline constexpr unsigned kWorkerCounts[] = {1, 2, 4};

// kWait bounds every wait that should succeed: long enough never to fire on
// a loaded machine, short enough that a lost wakeup fails the test.
inline constexpr auto kWait = 10s;

// kTimerDrain bounds the wait for pending_timers to reach 0 after a case:
// fibers that are still ending withdraw their deadlines (a deadline withdrawn
// from another worker no longer counts, even before its owner unlinks it).
inline constexpr auto kTimerDrain = kWait;

// run_clean() runs f in a fiber of a fresh runtime with n workers and checks
// that the runtime leaves nothing behind: no descriptor registered with the
// reactor once f returns, no timer filed (after at most timer_drain, see
// kTimerDrain), and no descriptor open once the runtime is gone. f returns nothing; assertions go inside it. f may
// take the worker count, or the runtime, as its argument.
template <class F>
void run_clean(unsigned n, F&& f, std::chrono::milliseconds limit = 120'000ms,
               std::chrono::milliseconds timer_drain = kTimerDrain) {
  INFO("workers = " << n);
  Watchdog dog(limit, "test with " + std::to_string(n) + " workers");
  const int fds_before = fd_count();
  {
    // No spare workers: socket calls never block a worker, and a spare that a
    // loaded machine starts beside one worker would make fibers move there.
    weft::Runtime rt(weft::Config{}.worker_threads(n).max_spare_workers(0));
    if constexpr (std::is_invocable_v<F&, weft::Runtime&>) {
      rt.block_on([&] { f(rt); });
    } else if constexpr (std::is_invocable_v<F&, unsigned>) {
      rt.block_on([&] { f(n); });
    } else {
      rt.block_on(f);
    }
    CHECK(rt.stats().registered_fds == 0);
    CHECK(wait_until([&] { return rt.stats().pending_timers == 0; }, timer_drain));
    CHECK(rt.stats().live_fibers == 0);
  }
  CHECK(fd_count() == fds_before);
}

// for_each_workers() runs the same case with 1, 2 and 4 workers.
template <class F>
void for_each_workers(F&& f, std::chrono::milliseconds limit = 120'000ms,
                      std::chrono::milliseconds timer_drain = kTimerDrain) {
  for (unsigned n : kWorkerCounts) run_clean(n, f, limit, timer_drain);
}

// ms_since() is the milliseconds since t0, for timing bounds and messages.
inline long long ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// Pair is both ends of a loopback TCP connection.
struct Pair {
  net::TcpStream client;
  net::TcpStream server;
};

// tcp_pair() connects a client to a fresh listener on 127.0.0.1 (or [::1])
// and accepts it; the listener is closed on return. The kernel completes the
// handshake from the backlog, so one fiber can connect and then accept.
inline Pair tcp_pair(const char* where = "127.0.0.1:0") {
  auto listener = net::TcpListener::bind(where);
  auto client = net::TcpStream::connect(listener.local_addr(), kWait);
  auto accepted = listener.accept(kWait);
  return Pair{std::move(client), std::move(accepted.stream)};
}

// ipv6_available() is true when [::1] can be bound (not every container has it).
inline bool ipv6_available() {
  std::error_code ec;
  auto l = net::TcpListener::bind(net::SocketAddress::parse("[::1]:0"), {}, ec);
  return !ec;
}

}  // namespace net_test
