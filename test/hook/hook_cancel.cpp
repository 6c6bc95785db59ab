// Cancellation reaches fibers parked in hooked calls: JoinHandle::cancel
// makes their hooked I/O fail with ECANCELED and their hooked sleeps return
// early with EINTR, so legacy code sees an error it already handles and the
// fiber can finish. A runtime shutdown (which cancels) must not hang on them.
#include <poll.h>
#include <sys/select.h>
#include <time.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "support.hpp"

using namespace hook_test;

namespace {

// Outcome is what a cancelled call returned.
struct Outcome {
  long rc = 0;
  int err = 0;
  long long ms = 0;
};

// cancel_inside() runs call in a new fiber, cancels the fiber once it is
// inside the call, and returns what the call returned.
Outcome cancel_inside(std::function<long()> call) {
  std::atomic<bool> inside{false};
  Outcome out;
  auto h = weft::spawn([&] {
    inside = true;
    auto t0 = Clock::now();
    errno = 0;
    out.rc = call();
    out.err = last_errno();
    out.ms = ms_since(t0);
  });
  CHECK(fiber_wait_until([&] { return inside.load(); }));
  // A few turns for the fiber to get from the flag into the call; if the
  // cancel comes first, the call must fail at once all the same.
  for (int i = 0; i < 3; ++i) weft::this_fiber::yield();
  h.cancel();
  try {
    h.join();
  } catch (const weft::Cancelled&) {
    // The fiber ended by a later cancellation point; out is still filled.
  }
  return out;
}

void expect(const std::string& what, const Outcome& o, long rc, int err) {
  CHECK_MESSAGE(o.rc == rc, what << ": returned " << o.rc);
  CHECK_MESSAGE(o.err == err, what << ": errno " << o.err << " (" << std::strerror(o.err) << ")");
  CHECK_MESSAGE(o.ms < 5000, what << ": took " << o.ms << " ms");
}

}  // namespace

TEST_CASE("cancelled fibers see hooked I/O fail with ECANCELED") {
  for_each_workers([](const Env&) {
    auto p = tcp_pair();
    char buf[8];
    expect("read", cancel_inside([&] { return ::read(p.a.get(), buf, sizeof buf); }), -1, ECANCELED);
    expect("recv", cancel_inside([&] { return ::recv(p.a.get(), buf, sizeof buf, 0); }), -1, ECANCELED);
    auto u = udp_pair();
    expect("recvfrom", cancel_inside([&] { return ::recvfrom(u.a.get(), buf, sizeof buf, 0, nullptr, nullptr); }),
           -1, ECANCELED);
    auto pp = pipe_pair();
    expect("read on a pipe", cancel_inside([&] { return ::read(pp.a.get(), buf, sizeof buf); }), -1, ECANCELED);
    Fd l = tcp_listener();
    expect("accept", cancel_inside([&] { return static_cast<long>(::accept(l.get(), nullptr, nullptr)); }), -1,
           ECANCELED);
    // A write into full buffers that nobody drains.
    const std::string big(16 << 20, 'c');
    Outcome w = cancel_inside([&] { return ::write(p.b.get(), big.data(), big.size()); });
    // Some bytes may have moved before the cancel: then libc-like code
    // returns the count; otherwise -1 with ECANCELED.
    CHECK_MESSAGE((w.rc == -1 ? w.err == ECANCELED : (w.rc > 0 && w.rc < static_cast<long>(big.size()))),
                  "write: returned " << w.rc << ", errno " << w.err);
    CHECK(w.ms < 5000);
  });
}

TEST_CASE("cancelled fibers see connect, poll and select fail with ECANCELED") {
  for_each_workers([](const Env&) {
    // A full accept queue keeps the connect waiting (see hook_timeouts).
    Fd l = tcp_listener(0);
    Fd queued = tcp_socket();
    REQUIRE(connect_to(queued.get(), local_addr(l.get())) == 0);
    Fd c = tcp_socket();
    expect("connect", cancel_inside([&] { return static_cast<long>(connect_to(c.get(), local_addr(l.get()))); }),
           -1, ECANCELED);
    auto p = unix_pair();
    pollfd pfd{p.a.get(), POLLIN, 0};
    expect("poll", cancel_inside([&] { return static_cast<long>(::poll(&pfd, 1, 30'000)); }), -1, ECANCELED);
    expect("poll without descriptors", cancel_inside([&] { return static_cast<long>(::poll(nullptr, 0, 30'000)); }),
           -1, ECANCELED);
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(p.a.get(), &rd);
    timeval tv{30, 0};
    expect("select", cancel_inside([&] { return static_cast<long>(::select(p.a.get() + 1, &rd, nullptr, nullptr, &tv)); }),
           -1, ECANCELED);
  });
}

TEST_CASE("cancelled fibers see hooked sleeps return early with EINTR") {
  for_each_workers([](const Env&) {
    timespec rem{};
    Outcome n = cancel_inside([&] {
      timespec ts{30, 0};
      return static_cast<long>(::nanosleep(&ts, &rem));
    });
    expect("nanosleep", n, -1, EINTR);
    // rem holds what was left: most of the 30 seconds.
    CHECK(rem.tv_sec > 20);
    CHECK(rem.tv_sec <= 30);
    expect("usleep", cancel_inside([] { return static_cast<long>(::usleep(30'000'000)); }), -1, EINTR);
    // sleep() reports the seconds it did not sleep, as after a signal.
    Outcome s = cancel_inside([] { return static_cast<long>(::sleep(30)); });
    CHECK(s.rc > 20);
    CHECK(s.rc <= 30);
    CHECK(s.ms < 5000);
  });
}

TEST_CASE("a runtime shuts down while its fibers sit in hooked calls") {
  for (unsigned n : kWorkerCounts) {
    Watchdog dog(60'000ms, "shutdown with " + std::to_string(n) + " workers");
    const int fds_before = fd_count();
    {
      std::atomic<int> inside{0};
      std::atomic<int> ecanceled{0};
      auto p = unix_pair();  // made on a plain thread: plain libc
      Fd l = tcp_listener();
      weft::Runtime rt(weft::Config{}.worker_threads(n));
      std::vector<weft::JoinHandle<void>> fibers;
      for (int i = 0; i < 20; ++i) {
        fibers.push_back(rt.spawn([&, i] {
          char c;
          inside.fetch_add(1);
          long rc = i % 3 == 0   ? ::read(p.a.get(), &c, 1)
                    : i % 3 == 1 ? static_cast<long>(::accept(l.get(), nullptr, nullptr))
                                 : static_cast<long>(::usleep(30'000'000));
          if (rc == -1 && (last_errno() == ECANCELED || last_errno() == EINTR)) ecanceled.fetch_add(1);
        }));
      }
      CHECK(wait_until([&] { return inside.load() == 20; }, kWait));
      auto t0 = Clock::now();
      rt.shutdown();
      CHECK(ms_since(t0) < 5000);
      for (auto& f : fibers) CHECK(f.is_finished());
      // A fiber cancelled just before its call fails it at once, so every
      // one of them saw the error.
      CHECK(ecanceled.load() == 20);
    }
    CHECK(fd_count() == fds_before);
  }
}
