// weft::Signals: signals sent to the process reach a fiber waiting on them
// while other fibers keep the workers busy; threads that did not block the
// signal hand it over; deadlines, cancellation and plain threads; the previous
// disposition and mask come back when the last Signals goes. Each case uses
// a signal of its own, since a thread that forwarded a signal keeps it
// blocked.
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <weft/signals.hpp>

#include "support.hpp"

using namespace os_test;

namespace {

// blocked_in() is whether thread tid (of this process) blocks sig, from the
// SigBlk line of its /proc status.
bool blocked_in(pid_t tid, int sig) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("SigBlk:", 0) != 0) continue;
    unsigned long long mask = std::stoull(line.substr(7), nullptr, 16);
    return (mask >> (sig - 1)) & 1;
  }
  throw std::runtime_error("no SigBlk line for thread " + std::to_string(tid));
}

bool blocked_here(int sig) {
  sigset_t cur;
  pthread_sigmask(SIG_BLOCK, nullptr, &cur);
  return sigismember(&cur, sig) == 1;
}

pid_t this_tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// thread_named() lists the threads of this process whose name starts with prefix.
std::vector<pid_t> threads_named(const std::string& prefix) {
  std::vector<pid_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(e.path() / "comm");
    std::string name;
    std::getline(in, name);
    if (name.rfind(prefix, 0) == 0) out.push_back(std::stoi(e.path().filename().string()));
  }
  return out;
}

std::atomic<int> winch_seen{0};
void count_winch(int) { winch_seen.fetch_add(1); }

}  // namespace

// Busy keeps 2n fibers computing in 2 ms slices (yielding between slices)
// until it is destroyed, so that signals arrive while every worker is busy.
class Busy {
 public:
  explicit Busy(unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      fibers_.push_back(weft::spawn([this] {
        auto t_end = Clock::now() + 20s;  // bound even if the test fails
        while (!stop_.load() && Clock::now() < t_end) {
          auto slice = Clock::now() + 2ms;
          while (Clock::now() < slice) spins_.fetch_add(1, std::memory_order_relaxed);
          weft::this_fiber::yield();
        }
      }));
    }
  }
  ~Busy() {
    stop_ = true;
    for (auto& f : fibers_) f.join();
  }
  long spins() const { return spins_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<long> spins_{0};
  std::vector<weft::JoinHandle<void>> fibers_;
};

TEST_CASE("a signal sent to the process reaches the waiting fiber while others are busy") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "signal while busy");
  const int fds_before = fd_count();
  {
    weft::Runtime rt(config(workers));
    rt.block_on([&] {
      // Made inside a fiber, with every runtime thread already running: the
      // threads that still take SIGUSR1 must forward it.
      weft::Signals sigs{SIGUSR1};
      Busy busy(2 * workers);
      for (int round = 0; round < 5; ++round) {
        CAPTURE(round);
        auto waiter = weft::spawn([&] { return sigs.wait(weft::deadline_in(10s)); });
        REQUIRE(::kill(::getpid(), SIGUSR1) == 0);
        CHECK(waiter.join() == SIGUSR1);
      }
      CHECK(busy.spins() > 0);
    });
  }
  // The signalfd and the runtime's descriptors are gone.
  CHECK(wait_until([&] { return fd_count() == fds_before; }, 5s));
}

TEST_CASE("pthread_kill to a thread that takes the signal: it forwards it, then blocks it") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "forwarding thread");
  // A plain thread that takes SIGUSR2 (whatever it inherited), as one
  // started before any Signals existed would.
  std::mutex mu;
  std::condition_variable cv;
  bool quit = false;
  std::atomic<pid_t> tid{0};
  std::thread bystander([&] {
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    pthread_sigmask(SIG_UNBLOCK, &usr2, nullptr);
    tid = this_tid();
    std::unique_lock<std::mutex> lk(mu);
    cv.wait_for(lk, 20s, [&] { return quit; });
  });
  REQUIRE(wait_until([&] { return tid.load() != 0; }, 5s));
  CHECK_FALSE(blocked_in(tid, SIGUSR2));

  weft::Runtime rt(config(workers));
  int got = rt.block_on([&] {
    weft::Signals sigs{SIGUSR2};
    Busy busy(2 * workers);
    auto waiter = weft::spawn([&] { return sigs.wait(weft::deadline_in(10s)); });
    REQUIRE(::pthread_kill(bystander.native_handle(), SIGUSR2) == 0);
    return waiter.join();
  });
  CHECK(got == SIGUSR2);
  // The forwarding handler left SIGUSR2 blocked in the bystander.
  CHECK(blocked_in(tid, SIGUSR2));
  {
    std::lock_guard<std::mutex> lk(mu);
    quit = true;
  }
  cv.notify_one();
  bystander.join();
}

TEST_CASE("several signals, each read once, in the order of their numbers") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "several signals");
  weft::Runtime rt(config(workers));
  rt.block_on([&] {
    weft::Signals sigs{SIGRTMIN + 1, SIGRTMIN + 2};
    CHECK(sigs.signals() == std::vector<int>{SIGRTMIN + 1, SIGRTMIN + 2});
    // Real-time signals queue: three sends are three reads.
    REQUIRE(::kill(::getpid(), SIGRTMIN + 2) == 0);
    REQUIRE(::kill(::getpid(), SIGRTMIN + 1) == 0);
    REQUIRE(::kill(::getpid(), SIGRTMIN + 1) == 0);
    std::multiset<int> got;
    for (int i = 0; i < 3; ++i) got.insert(sigs.wait(weft::deadline_in(10s)));
    CHECK(got == std::multiset<int>{SIGRTMIN + 1, SIGRTMIN + 1, SIGRTMIN + 2});
    CHECK_FALSE(sigs.try_wait().has_value());
  });
}

TEST_CASE("wait honours deadlines, deadline scopes and cancellation") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "signal deadlines");
  weft::Runtime rt(config(workers));
  rt.block_on([&] {
    weft::Signals sigs{SIGRTMIN + 3};
    auto t0 = Clock::now();
    std::error_code ec;
    CHECK(sigs.wait(ec, weft::deadline_in(30ms)) == 0);
    CHECK(ec == std::errc::timed_out);
    CHECK(ms_since(t0) >= 30);
    CHECK(ms_since(t0) < 5000);

    try {
      sigs.wait(weft::deadline_in(10ms));
      FAIL("wait did not time out");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::timed_out);
    }

    bool timed_out = false;
    try {
      weft::with_timeout(20ms, [&] { return sigs.wait(); });
    } catch (const std::system_error& e) {
      timed_out = e.code() == std::errc::timed_out;
    }
    CHECK(timed_out);

    // Cancellation: the waiting fiber gets weft::Cancelled.
    auto waiter = weft::spawn([&] { return sigs.wait(weft::deadline_in(20s)); });
    waiter.cancel();
    CHECK_THROWS_AS(waiter.join(), weft::Cancelled);
    // The no-throw form reports it as operation_canceled.
    auto quiet = weft::spawn([&] {
      std::error_code e2;
      int s = sigs.wait(e2, weft::deadline_in(20s));
      return std::pair{s, e2};
    });
    quiet.cancel();
    auto [s, e2] = quiet.join();
    CHECK(s == 0);
    CHECK(e2 == std::errc::operation_canceled);
  });
}

TEST_CASE("Signals works on a plain thread, without a runtime") {
  Watchdog dog(30s, "plain thread");
  weft::Signals sigs{SIGRTMIN + 4};
  CHECK(blocked_here(SIGRTMIN + 4));
  std::thread sender([] { ::kill(::getpid(), SIGRTMIN + 4); });
  CHECK(sigs.wait(weft::deadline_in(10s)) == SIGRTMIN + 4);
  sender.join();
  std::error_code ec;
  CHECK(sigs.wait(ec, weft::deadline_in(20ms)) == 0);
  CHECK(ec == std::errc::timed_out);
}

TEST_CASE("the last Signals restores the disposition and the mask, and drops unread signals") {
  // The watchdog thread starts with SIGWINCH blocked, so that every thread of
  // the process blocks it while the Signals objects live: then a kill()
  // leaves it pending at once, and nothing is forwarded asynchronously (a
  // forward racing the teardown could reach the restored handler).
  sigset_t winch;
  sigemptyset(&winch);
  sigaddset(&winch, SIGWINCH);
  pthread_sigmask(SIG_BLOCK, &winch, nullptr);
  Watchdog dog(30s, "restore");
  pthread_sigmask(SIG_UNBLOCK, &winch, nullptr);
  REQUIRE(live_thread_count() == 2);  // main and the watchdog

  struct sigaction mine {};
  mine.sa_handler = count_winch;
  sigemptyset(&mine.sa_mask);
  REQUIRE(sigaction(SIGWINCH, &mine, nullptr) == 0);
  winch_seen = 0;

  {
    weft::Signals a{SIGWINCH};
    CHECK(blocked_here(SIGWINCH));
    struct sigaction now {};
    sigaction(SIGWINCH, nullptr, &now);
    CHECK((now.sa_flags & SA_SIGINFO) != 0);  // the forwarding handler
    REQUIRE(::kill(::getpid(), SIGWINCH) == 0);
    CHECK(a.wait(weft::deadline_in(10s)) == SIGWINCH);
    {
      weft::Signals b{SIGWINCH, SIGRTMIN + 6};
      // Sent while watched, read by nobody.
      REQUIRE(::kill(::getpid(), SIGWINCH) == 0);
    }
    // a still watches SIGWINCH: still blocked and still pending.
    CHECK(blocked_here(SIGWINCH));
    CHECK(a.try_wait() == SIGWINCH);
    REQUIRE(::kill(::getpid(), SIGWINCH) == 0);  // pending when a goes
  }
  struct sigaction after {};
  sigaction(SIGWINCH, nullptr, &after);
  CHECK((after.sa_handler == count_winch));
  CHECK_FALSE(blocked_here(SIGWINCH));
  CHECK_FALSE(blocked_here(SIGRTMIN + 6));
  CHECK(winch_seen.load() == 0);  // the unread one was dropped, not delivered

  // And the old handler gets the next one.
  REQUIRE(::kill(::getpid(), SIGWINCH) == 0);
  CHECK(wait_until([] { return winch_seen.load() == 1; }, 5s));
  signal(SIGWINCH, SIG_DFL);
}

TEST_CASE("block_signals blocks for good, and runtime threads inherit the mask") {
  Watchdog dog(30s, "block_signals");
  const int sig = SIGRTMIN + 7;
  weft::block_signals({sig});
  CHECK(blocked_here(sig));
  { weft::Signals s{sig}; }
  CHECK(blocked_here(sig));  // the Signals did not unblock it

  weft::Runtime rt(weft::Config{}.worker_threads(2).thread_name_prefix("blk-w"));
  rt.start();
  // Workers name themselves as they start.
  CHECK(wait_until([] { return threads_named("blk-w").size() >= 2; }, 5s));
  auto workers = threads_named("blk-w");
  for (pid_t t : workers) CHECK(blocked_in(t, sig));
  int got = rt.block_on([&] {
    weft::Signals s{sig};
    ::kill(::getpid(), sig);
    return s.wait(weft::deadline_in(10s));
  });
  CHECK(got == sig);
}

TEST_CASE("signals that cannot be waited for are refused") {
  CHECK_THROWS_AS(weft::Signals{SIGKILL}, std::invalid_argument);
  CHECK_THROWS_AS(weft::Signals{SIGSTOP}, std::invalid_argument);
  CHECK_THROWS_AS(weft::Signals{SIGSEGV}, std::invalid_argument);
  CHECK_THROWS_AS(weft::Signals{SIGFPE}, std::invalid_argument);
  CHECK_THROWS_AS(weft::Signals{0}, std::invalid_argument);
  CHECK_THROWS_AS(weft::Signals{NSIG + 3}, std::invalid_argument);
  CHECK_THROWS_AS(weft::Signals(std::span<const int>()), std::invalid_argument);
  CHECK_THROWS_AS(weft::block_signals({SIGKILL}), std::invalid_argument);
  // A refused set leaves no trace: SIGHUP is not blocked by a failed attempt.
  CHECK_THROWS_AS((weft::Signals{SIGHUP, SIGKILL}), std::invalid_argument);
  CHECK_FALSE(blocked_here(SIGHUP));
}

TEST_CASE("Signals moves, and names signals") {
  weft::Signals a{SIGRTMIN + 8};
  int fd = a.native_handle();
  CHECK(fd >= 0);
  weft::Signals b(std::move(a));
  CHECK(a.native_handle() == -1);
  CHECK(a.signals().empty());
  CHECK(b.native_handle() == fd);
  std::error_code ec;
  CHECK(a.wait(ec, weft::deadline_in(1ms)) == 0);
  CHECK(ec == std::errc::bad_file_descriptor);
  ::kill(::getpid(), SIGRTMIN + 8);
  CHECK(b.wait(weft::deadline_in(10s)) == SIGRTMIN + 8);

  CHECK(weft::signal_name(SIGINT) == "SIGINT");
  CHECK(weft::signal_name(SIGTERM) == "SIGTERM");
  CHECK(weft::signal_name(SIGRTMIN + 2) == "SIGRTMIN+2");
  CHECK(weft::signal_name(1000) == "signal 1000");
}
