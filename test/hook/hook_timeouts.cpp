// SO_RCVTIMEO and SO_SNDTIMEO on blocking sockets: each call gets its own
// deadline, and expiry gives what libc gives (-1 with EAGAIN, a partial count
// for a stream write that moved some bytes, EINPROGRESS for connect), while
// the fiber, not the thread, waits. No timeout unless one is set.
#include <sys/time.h>

#include <string>

#include "support.hpp"

using namespace hook_test;

namespace {

void set_timeout(int fd, int opt, std::chrono::milliseconds d) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  REQUIRE(::setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv) == 0);
}

// Ticker counts how often another fiber ran while a timed call waited.
struct Ticker {
  std::atomic<bool> stop{false};
  std::atomic<int> ticks{0};
  weft::JoinHandle<void> fiber = weft::spawn([this] {
    while (!stop.load()) {
      ticks.fetch_add(1);
      weft::this_fiber::sleep_for(1ms);
    }
  });
  int finish() {
    stop = true;
    fiber.join();
    return ticks.load();
  }
};

constexpr auto kTimeout = 100ms;

// timed_out() checks a call that should expire after kTimeout with EAGAIN.
template <class F>
void expect_timeout(const std::string& what, F call) {
  Ticker ticker;
  auto t0 = Clock::now();
  errno = 0;
  ssize_t n = call();
  int err = last_errno();
  auto ms = ms_since(t0);
  int ticks = ticker.finish();
  CHECK_MESSAGE(n == -1, what);
  CHECK_MESSAGE((err == EAGAIN || err == EWOULDBLOCK), what << ": errno " << err);
  CHECK_MESSAGE(ms >= kTimeout.count() - 5, what << ": after " << ms << " ms");
  CHECK_MESSAGE(ms < 5000, what << ": after " << ms << " ms");
  // Another fiber ran while the call waited: it parked, it did not block.
  CHECK_MESSAGE(ticks >= 5, what << ": " << ticks << " ticks meanwhile");
}

}  // namespace

TEST_CASE("SO_RCVTIMEO: read, recv, recvfrom and recvmsg fail with EAGAIN at the deadline") {
  for_each_workers([](const Env&) {
    auto p = tcp_pair();
    set_timeout(p.a.get(), SO_RCVTIMEO, kTimeout);
    char buf[8];
    expect_timeout("read", [&] { return ::read(p.a.get(), buf, sizeof buf); });
    expect_timeout("recv", [&] { return ::recv(p.a.get(), buf, sizeof buf, 0); });
    auto u = udp_pair();
    set_timeout(u.a.get(), SO_RCVTIMEO, kTimeout);
    expect_timeout("recvfrom", [&] { return ::recvfrom(u.a.get(), buf, sizeof buf, 0, nullptr, nullptr); });
    expect_timeout("recvmsg", [&] {
      iovec iov{buf, sizeof buf};
      msghdr m{};
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      return ::recvmsg(u.a.get(), &m, 0);
    });
    // The socket still works, and data that comes in time is returned.
    auto writer = weft::spawn([&] { CHECK(::write(p.b.get(), "late", 4) == 4); });
    CHECK(::read(p.a.get(), buf, sizeof buf) == 4);
    writer.join();
  });
}

TEST_CASE("SO_RCVTIMEO applies to each call afresh") {
  for_each_workers([](const Env&) {
    auto p = unix_pair();
    set_timeout(p.a.get(), SO_RCVTIMEO, 1s);
    // Five reads, each answered after about 300 ms: 1.5 s in all, more than
    // the timeout, yet each call is within its own deadline (with 700 ms to
    // spare for a busy machine).
    auto writer = weft::spawn([&] {
      for (int i = 0; i < 5; ++i) {
        weft::this_fiber::sleep_for(300ms);
        CHECK(::write(p.b.get(), "t", 1) == 1);
      }
    });
    int got = 0;
    for (int i = 0; i < 5; ++i) {
      char c;
      if (::read(p.a.get(), &c, 1) == 1) ++got;
    }
    writer.join();
    CHECK(got == 5);
  });
}

TEST_CASE("SO_RCVTIMEO on a listener: accept fails with EAGAIN") {
  for_each_workers([](const Env&) {
    Fd l = tcp_listener();
    set_timeout(l.get(), SO_RCVTIMEO, kTimeout);
    expect_timeout("accept", [&] { return static_cast<ssize_t>(::accept(l.get(), nullptr, nullptr)); });
  });
}

TEST_CASE("getsockopt reads back the timeouts, and 0 turns them off") {
  for_each_workers([](const Env&) {
    auto p = unix_pair();
    set_timeout(p.a.get(), SO_RCVTIMEO, 1500ms);
    // Multiples of 4 ms: the kernel keeps timeouts in jiffies (HZ 100, 250
    // or 1000) and reads back the rounded value.
    set_timeout(p.a.get(), SO_SNDTIMEO, 200ms);
    timeval tv{};
    socklen_t len = sizeof tv;
    CHECK(::getsockopt(p.a.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == 0);
    CHECK(tv.tv_sec == 1);
    CHECK(tv.tv_usec == 500'000);
    len = sizeof tv;
    CHECK(::getsockopt(p.a.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, &len) == 0);
    CHECK(tv.tv_sec == 0);
    CHECK(tv.tv_usec == 200'000);

    // Set, then cleared: a read waits past the old timeout for its data.
    set_timeout(p.a.get(), SO_RCVTIMEO, 50ms);
    set_timeout(p.a.get(), SO_RCVTIMEO, 0ms);
    auto writer = weft::spawn([&] {
      weft::this_fiber::sleep_for(200ms);
      CHECK(::write(p.b.get(), "x", 1) == 1);
    });
    char c;
    auto t0 = Clock::now();
    CHECK(::read(p.a.get(), &c, 1) == 1);
    CHECK(ms_since(t0) >= 150);
    writer.join();
  });
}

TEST_CASE("no timeout unless one is set: a read waits as long as it takes") {
  for_each_workers([](const Env&) {
    auto p = tcp_pair();
    auto writer = weft::spawn([&] {
      weft::this_fiber::sleep_for(300ms);
      CHECK(::write(p.b.get(), "x", 1) == 1);
    });
    char c;
    auto t0 = Clock::now();
    CHECK(::read(p.a.get(), &c, 1) == 1);
    CHECK(ms_since(t0) >= 250);
    writer.join();
  });
}

TEST_CASE("SO_SNDTIMEO: a write that moved some bytes returns them, then one that moved none fails") {
  for_each_workers([](const Env&) {
    auto p = tcp_pair();
    set_timeout(p.b.get(), SO_SNDTIMEO, kTimeout);
    // Nobody reads: 16 MiB cannot fit in the socket buffers, so libc's
    // write returns what it copied once the deadline passes.
    const std::string big(16 << 20, 'b');
    auto t0 = Clock::now();
    ssize_t n = ::write(p.b.get(), big.data(), big.size());
    auto ms = ms_since(t0);
    CHECK(n > 0);
    CHECK(n < static_cast<ssize_t>(big.size()));
    CHECK(ms >= kTimeout.count() - 5);
    CHECK(ms < 5000);
    // Top the buffers up without waiting; then nothing can move, so a
    // blocking send waits out its timeout and fails with EAGAIN.
    int fills = 0;
    while (fills < 10'000 && ::send(p.b.get(), big.data(), 4096, MSG_DONTWAIT) > 0) ++fills;
    CHECK(fills < 10'000);
    expect_timeout("send", [&] { return ::send(p.b.get(), big.data(), 64 * 1024, 0); });
  });
}

TEST_CASE("SO_SNDTIMEO on connect: EINPROGRESS at the deadline") {
  // A listener with a full accept queue drops SYNs: the connect cannot
  // finish before its deadline.
  for_each_workers([](const Env&) {
    Fd l = tcp_listener(0);
    Fd queued = tcp_socket();
    REQUIRE(connect_to(queued.get(), local_addr(l.get())) == 0);
    Fd c = tcp_socket();
    set_timeout(c.get(), SO_SNDTIMEO, kTimeout);
    Ticker ticker;
    auto t0 = Clock::now();
    errno = 0;
    int rc = connect_to(c.get(), local_addr(l.get()));
    int err = last_errno();
    auto ms = ms_since(t0);
    int ticks = ticker.finish();
    CHECK(rc == -1);
    CHECK_MESSAGE(err == EINPROGRESS, "errno " << err);
    CHECK(ms >= kTimeout.count() - 5);
    CHECK(ms < 900);  // before the SYN's first retransmission (1 s)
    CHECK(ticks >= 5);
  });
}
