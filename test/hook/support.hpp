// Helpers shared by the hook tests: the worker counts every runtime case
// runs with, a runner that checks a runtime leaves no descriptor,
// registration or timer behind, a watchdog for cases whose failure mode is a
// hang, raw-descriptor helpers, and Sidekick, the proof that a blocking call
// parked only its fiber.
//
// Every helper calls libc directly (::socket, ::read, ...): those are the
// calls libweft_hook interposes, so the helpers go through the hook too.
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include <doctest/doctest.h>

#include "../doctest_fibers.hpp"
#include "../test_support.hpp"
#include <weft/weft.hpp>

namespace hook_test {

using test_common::Watchdog;
using test_common::wait_until;
using test_common::fd_count;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Every runtime case runs with these worker counts: 1 proves that a hooked
// call parks its fiber (nothing else could run the other fibers), 2 and 4 the
// cross-thread wake paths (4 oversubscribes a 2-core machine, so fibers move).
inline constexpr unsigned kWorkerCounts[] = {1, 2, 4};

// kWait bounds every wait that should succeed: long enough never to fire on
// a loaded machine, short enough that a lost wakeup fails the test.
inline constexpr auto kWait = 10s;

// fiber_wait_until() is test_common's, bounded by kWait unless told.
template <class Pred>
bool fiber_wait_until(Pred pred, std::chrono::milliseconds timeout = kWait) {
  return test_common::fiber_wait_until(pred, timeout);
}

// last_errno() reads errno afresh. glibc declares __errno_location() const,
// so the compiler may keep the address of errno across a call; a hooked call
// that parks may resume on another thread, whose errno lives elsewhere, and
// an inline `errno` after it could read the old thread's. Out of line and
// opaque to the optimizer, this reads the current thread's.
[[gnu::noinline, gnu::noipa]] inline int last_errno() noexcept { return errno; }

// kTimerDrain bounds the wait for pending_timers to reach 0 after a case:
// fibers that are still ending withdraw their deadlines (a deadline withdrawn
// from another worker no longer counts, even before its owner unlinks it).
inline constexpr auto kTimerDrain = kWait;

// Env is what a case may want to know about the runtime it runs in.
struct Env {
  unsigned workers;
  weft::Runtime& rt;
};

// run_clean() runs f in a fiber of a fresh runtime with n workers and checks
// that the runtime leaves nothing behind: no descriptor registered with the
// reactor once f returns, no timer filed, and no descriptor open once the
// runtime is gone. f takes nothing or an Env; assertions go inside it.
template <class F>
void run_clean(unsigned n, F&& f, std::chrono::milliseconds limit = 120'000ms, weft::Config cfg = {}) {
  INFO("workers = " << n);
  Watchdog dog(limit, "test with " + std::to_string(n) + " workers");
  const int fds_before = fd_count();
  {
    weft::Runtime rt(cfg.worker_threads(n));
    Env env{n, rt};
    if constexpr (std::is_invocable_v<F&, const Env&>) {
      rt.block_on([&] { f(env); });
    } else {
      rt.block_on(f);
    }
    CHECK(rt.stats().registered_fds == 0);
    CHECK(wait_until([&] { return rt.stats().pending_timers == 0; }, kTimerDrain));
    CHECK(rt.stats().live_fibers == 0);
  }
  CHECK(fd_count() == fds_before);
}

// kNoSpares is the configuration of cases that assert where fibers ran with
// one worker: a spare worker, which the monitor starts when a loaded machine
// keeps the one worker from switching for 10 ms, would run fibers too.
inline const weft::Config kNoSpares = weft::Config{}.max_spare_workers(0);

// for_each_workers() runs the same case with 1, 2 and 4 workers.
template <class F>
void for_each_workers(F&& f, std::chrono::milliseconds limit = 120'000ms, weft::Config cfg = {}) {
  for (unsigned n : kWorkerCounts) run_clean(n, f, limit, cfg);
}

// ms_since() is the milliseconds since t0, for timing bounds and messages.
inline long long ms_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
}

// Fd owns a descriptor and closes it (through the hooked ::close).
class Fd {
 public:
  Fd() noexcept = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  // release() gives the descriptor up without closing it.
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
};

// FdPair is two connected descriptors: for a pipe, a reads and b writes.
struct FdPair {
  Fd a;
  Fd b;
};

// loopback() is 127.0.0.1:port.
inline sockaddr_in loopback(in_port_t port = 0) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sa;
}

// local_addr() is the address a socket is bound to.
inline sockaddr_in local_addr(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0);
  return sa;
}

inline bool same_addr(const sockaddr_in& x, const sockaddr_in& y) {
  return x.sin_family == y.sin_family && x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
}

// tcp_listener() is a socket listening on 127.0.0.1 at a free port.
inline Fd tcp_listener(int backlog = 128, int type_flags = 0) {
  Fd l(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | type_flags, 0));
  REQUIRE(l);
  int one = 1;
  REQUIRE(::setsockopt(l.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
  sockaddr_in sa = loopback();
  REQUIRE(::bind(l.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  REQUIRE(::listen(l.get(), backlog) == 0);
  return l;
}

// tcp_socket() is a fresh blocking TCP socket.
inline Fd tcp_socket(int type_flags = 0) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | type_flags, 0));
  REQUIRE(s);
  return s;
}

// connect_to() connects fd to addr; returns connect's result, errno intact.
inline int connect_to(int fd, const sockaddr_in& addr) {
  return ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
}

// tcp_pair() is both ends of a loopback TCP connection (a: client, b: server).
// The kernel completes the handshake from the backlog, so one fiber can
// connect and then accept.
inline FdPair tcp_pair() {
  Fd l = tcp_listener();
  Fd c = tcp_socket();
  REQUIRE(connect_to(c.get(), local_addr(l.get())) == 0);
  Fd s(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
  REQUIRE(s);
  return FdPair{std::move(c), std::move(s)};
}

// unix_pair() is a connected AF_UNIX socketpair of the given type.
inline FdPair unix_pair(int type = SOCK_STREAM) {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) == 0);
  return FdPair{Fd(sv[0]), Fd(sv[1])};
}

// pipe_pair() is a pipe: a is the read end, b the write end.
inline FdPair pipe_pair(int flags = 0) {
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC | flags) == 0);
  return FdPair{Fd(p[0]), Fd(p[1])};
}

// udp_pair() is two UDP sockets on 127.0.0.1, each connected to the other.
inline FdPair udp_pair() {
  Fd a(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  Fd b(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  REQUIRE(a);
  REQUIRE(b);
  sockaddr_in sa = loopback();
  REQUIRE(::bind(a.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  REQUIRE(::bind(b.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  REQUIRE(connect_to(a.get(), local_addr(b.get())) == 0);
  REQUIRE(connect_to(b.get(), local_addr(a.get())) == 0);
  return FdPair{std::move(a), std::move(b)};
}

// closed_port() is a loopback port nobody listens on: bound, then released.
// Another process could take it in between, which loopback tests accept.
inline sockaddr_in closed_port() {
  Fd s = tcp_socket();
  sockaddr_in sa = loopback();
  REQUIRE(::bind(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  return local_addr(s.get());
}

// set_nonblocking() sets or clears O_NONBLOCK as a program would.
inline void set_nonblocking(int fd, bool on) {
  int fl = ::fcntl(fd, F_GETFL);
  REQUIRE(fl >= 0);
  REQUIRE(::fcntl(fd, F_SETFL, on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK)) == 0);
}

// shows_nonblocking() is whether F_GETFL reports O_NONBLOCK.
inline bool shows_nonblocking(int fd) { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

// write_all() writes the whole buffer (for setting up data, not under test).
inline bool write_all(int fd, const void* p, std::size_t n) {
  auto* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w <= 0) return false;
    c += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// Sidekick proves that a blocking call parked only the fiber that made it.
// It is a second fiber that waits until the caller is inside call(), ticks a
// few times while the call is still in progress, then runs answer() (writes
// the data the call waits for, connects, closes ...). With one worker the
// ticks can only happen if the call gave the worker thread back, and they
// must happen on the caller's own thread: a worker blocked in the kernel
// would make the runtime hand the sidekick to another thread.
class Sidekick {
 public:
  static constexpr int kTicks = 3;

  template <class Answer>
  explicit Sidekick(Answer answer)
      : fiber_(weft::spawn([this, answer = std::move(answer)]() mutable {
          entered_ = fiber_wait_until([this] { return inside_.load(); });
          for (int i = 0; i < kTicks; ++i) {
            weft::this_fiber::yield();
            if (inside_.load()) {
              ticks_inside_.fetch_add(1);
              sidekick_thread_ = std::this_thread::get_id();
            }
          }
          answer();
        })) {}

  // call() runs f in the calling fiber, marked as inside the blocking call.
  template <class F>
  auto call(F&& f) {
    caller_thread_ = std::this_thread::get_id();
    inside_.store(true);
    struct Leave {
      std::atomic<bool>& in;
      ~Leave() { in.store(false); }
    } leave{inside_};
    return f();
  }

  // finish() joins the sidekick and checks it ran while the call waited;
  // with one worker, on the caller's thread.
  void finish(unsigned workers) {
    fiber_.join();
    CHECK_MESSAGE(entered_, "the call never started");
    // One turn inside the call shows it; a call that ends on its own timer
    // may end before the later turns when the machine stalls the thread.
    CHECK_MESSAGE(ticks_inside_.load() >= 1, "another fiber could not run while the call waited");
    if (workers == 1)
      CHECK_MESSAGE(sidekick_thread_ == caller_thread_,
                    "the other fiber ran on another thread: the call blocked its worker");
  }

 private:
  std::atomic<bool> inside_{false};
  std::atomic<int> ticks_inside_{0};
  bool entered_ = false;
  std::thread::id caller_thread_{};
  std::thread::id sidekick_thread_{};
  weft::JoinHandle<void> fiber_;
};

}  // namespace hook_test
