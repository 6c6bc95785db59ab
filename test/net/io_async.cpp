// weft::Async on descriptors that are not sockets: a pipe, an eventfd, a
// timerfd, inotify and a pseudo-terminal, owned through native_handle(), fd()
// or a free as_fd(). readable()/writable()/read_with()/write_with() with
// deadlines, cancellation, a second waiter, use outside a fiber, and a reused
// descriptor number that must not inherit the old one's readiness.
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "support.hpp"

using namespace net_test;
using weft::Async;
using weft::OwnedFd;

namespace {

struct Pipe {
  Async<OwnedFd> r;
  Async<OwnedFd> w;
};

Pipe make_pipe() {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  return Pipe{Async<OwnedFd>(OwnedFd(fds[0])), Async<OwnedFd>(OwnedFd(fds[1]))};
}

// soon() is the deadline of a wait that should succeed (Async takes Deadlines).
weft::Deadline soon() { return weft::deadline_in(kWait); }

ssize_t read_fd(OwnedFd& fd, void* buf, std::size_t n) { return ::read(fd.native_handle(), buf, n); }
ssize_t write_fd(OwnedFd& fd, const void* buf, std::size_t n) { return ::write(fd.native_handle(), buf, n); }

}  // namespace

TEST_CASE("pipe: read_with parks until a writer fiber writes") {
  for_each_workers([](weft::Runtime& rt) {
    auto p = make_pipe();
    CHECK((fcntl(p.r.native_handle(), F_GETFL) & O_NONBLOCK) != 0);  // Async made it non-blocking
    const auto base = rt.stats().pending_timers;
    auto writer = weft::spawn([&] {
      // Write only once the reader below has parked.
      if (!parked_with_deadline(rt, base)) return ssize_t{-2};
      return p.w.write_with([](OwnedFd& fd) { return write_fd(fd, "data", 4); }, soon());
    });
    char buf[8];
    auto n = p.r.read_with([&](OwnedFd& fd) { return read_fd(fd, buf, sizeof buf); }, soon());
    CHECK(n == 4);
    CHECK(std::string(buf, 4) == "data");
    CHECK(writer.join() == 4);
  });
}

TEST_CASE("pipe: readable and read_with time out, never early") {
  for_each_workers([] {
    auto p = make_pipe();
    std::error_code ec;
    auto t0 = Clock::now();
    CHECK_FALSE(p.r.readable(ec, weft::deadline_in(40ms)));
    CHECK(ec == std::errc::timed_out);
    CHECK(ms_since(t0) >= 40);
    char c;
    t0 = Clock::now();
    auto r = p.r.read_with([&](OwnedFd& fd) { return read_fd(fd, &c, 1); }, ec, weft::deadline_in(25ms));
    CHECK(r == -1);
    CHECK(ec == std::errc::timed_out);
    CHECK(ms_since(t0) >= 25);
    CHECK_THROWS_AS(p.r.readable(weft::deadline_in(5ms)), std::system_error);
    // Other errors come back as they are, without waiting.
    r = p.w.read_with([&](OwnedFd& fd) { return read_fd(fd, &c, 1); }, ec, soon());  // read the write end
    CHECK(r == -1);
    CHECK(ec == std::errc::bad_file_descriptor);
    // Ready at once: readable returns true without waiting.
    p.w.write_with([](OwnedFd& fd) { return write_fd(fd, "x", 1); });
    auto t1 = Clock::now();
    CHECK(p.r.readable(ec, soon()));
    CHECK(ms_since(t1) < 1000);
  });
}

TEST_CASE("pipe: writable waits for room, and times out on a full pipe") {
  for_each_workers([] {
    auto p = make_pipe();
    std::vector<char> chunk(65536, 'p');
    std::size_t filled = 0;
    for (;;) {  // fill the pipe
      ssize_t n = ::write(p.w.native_handle(), chunk.data(), chunk.size());
      if (n < 0) {
        REQUIRE(errno == EAGAIN);
        break;
      }
      filled += static_cast<std::size_t>(n);
    }
    // Readiness is a hint: the edge recorded when the pipe was registered
    // (it was writable then) may still be pending and is consumed by the
    // first wait. The next one must wait for real, and time out.
    std::error_code ec;
    bool timed_out = false;
    for (int i = 0; i < 2 && !timed_out; ++i) {
      auto t0 = Clock::now();
      timed_out = !p.w.writable(ec, weft::deadline_in(30ms));
      if (timed_out) {
        CHECK(ec == std::errc::timed_out);
        CHECK(ms_since(t0) >= 30);
      }
    }
    CHECK(timed_out);
    auto r = p.w.write_with([&](OwnedFd& fd) { return write_fd(fd, chunk.data(), 1); }, ec, weft::deadline_in(20ms));
    CHECK(r == -1);
    CHECK(ec == std::errc::timed_out);
    // A reader drains it; the writer, parked meanwhile, gets room.
    auto drainer = weft::spawn([&] {
      std::vector<char> buf(filled);
      std::size_t got = 0;
      while (got < filled) {
        auto n = p.r.read_with([&](OwnedFd& fd) { return read_fd(fd, buf.data(), buf.size()); }, soon());
        got += static_cast<std::size_t>(n);
      }
      return got;
    });
    p.w.writable(soon());
    auto w = p.w.write_with([&](OwnedFd& fd) { return write_fd(fd, "!", 1); }, soon());
    CHECK(w == 1);
    CHECK(drainer.join() >= filled);
  });
}

TEST_CASE("eventfd: read_with wakes on a write from another fiber; write_with waits at the counter's top") {
  for_each_workers([] {
    Async<OwnedFd> efd(OwnedFd(::eventfd(0, EFD_CLOEXEC)));
    auto poster = weft::spawn([&] {
      std::uint64_t one = 1;
      weft::this_fiber::yield();
      return efd.write_with([&](OwnedFd& fd) { return write_fd(fd, &one, sizeof one); }, soon());
    });
    std::uint64_t v = 0;
    auto n = efd.read_with([&](OwnedFd& fd) { return read_fd(fd, &v, sizeof v); }, soon());
    CHECK(n == 8);
    CHECK(v == 1);
    CHECK(poster.join() == 8);
    // The counter tops out at 2^64 - 2: one more write would block.
    std::uint64_t top = 0xfffffffffffffffeULL;
    efd.write_with([&](OwnedFd& fd) { return write_fd(fd, &top, sizeof top); }, soon());
    std::error_code ec;
    std::uint64_t one = 1;
    auto r = efd.write_with([&](OwnedFd& fd) { return write_fd(fd, &one, sizeof one); }, ec, weft::deadline_in(20ms));
    CHECK(r == -1);
    CHECK(ec == std::errc::timed_out);
    auto reader = weft::spawn([&] {
      std::uint64_t x = 0;
      efd.read_with([&](OwnedFd& fd) { return read_fd(fd, &x, sizeof x); }, soon());
      return x;
    });
    r = efd.write_with([&](OwnedFd& fd) { return write_fd(fd, &one, sizeof one); }, ec, soon());
    CHECK_FALSE(ec);
    CHECK(r == 8);
    CHECK(reader.join() == top);
  });
}

TEST_CASE("timerfd: readable when it expires, not before") {
  for_each_workers([] {
    Async<OwnedFd> tfd(OwnedFd(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)));
    itimerspec spec{};
    spec.it_value.tv_nsec = 30'000'000;  // 30 ms
    auto t0 = Clock::now();
    REQUIRE(::timerfd_settime(tfd.native_handle(), 0, &spec, nullptr) == 0);
    std::error_code ec;
    // A deadline shorter than the timer expires first.
    CHECK_FALSE(tfd.readable(ec, weft::deadline_in(5ms)));
    CHECK(ec == std::errc::timed_out);
    std::uint64_t expirations = 0;
    auto n = tfd.read_with([&](OwnedFd& fd) { return read_fd(fd, &expirations, sizeof expirations); }, soon());
    CHECK(n == 8);
    CHECK(expirations == 1);
    CHECK(ms_since(t0) >= 30);
    // A periodic timer: several fibers in turn each see ticks.
    spec.it_value.tv_nsec = 2'000'000;
    spec.it_interval.tv_nsec = 2'000'000;
    REQUIRE(::timerfd_settime(tfd.native_handle(), 0, &spec, nullptr) == 0);
    std::uint64_t total = 0;
    for (int i = 0; i < 5; ++i) {
      tfd.read_with([&](OwnedFd& fd) { return read_fd(fd, &expirations, sizeof expirations); }, soon());
      total += expirations;
    }
    CHECK(total >= 5);
  });
}

TEST_CASE("a second waiter in the same direction is refused; cancellation ends a wait") {
  for_each_workers([] {
    auto p = make_pipe();
    std::atomic<bool> started{false};
    auto first = weft::spawn([&] {
      std::error_code ec;
      started = true;
      // On several workers the probe below may park first; then this one is
      // the second waiter, refused until the probe's short wait ends.
      for (;;) {
        p.r.readable(ec, soon());
        if (ec != std::errc::device_or_resource_busy) return ec;
        weft::this_fiber::yield();
      }
    });
    std::error_code ec;
    bool busy = false;
    for (int i = 0; i < 10'000 && !busy; ++i) {
      if (started) {
        p.r.readable(ec, weft::deadline_in(5ms));  // short: we may be first to park
        busy = ec == std::errc::device_or_resource_busy;
      }
      if (!busy) weft::this_fiber::yield();
    }
    CHECK(busy);
    // The other direction is free.
    CHECK(p.w.writable(ec, soon()));
    first.cancel();
    CHECK(first.join() == std::errc::operation_canceled);
  });
}

TEST_CASE("data announced to one fiber is not stranded for another whose attempt failed before it came") {
  // Two fibers read one pipe. This one fails first (empty pipe); the other
  // then takes one byte of the two that arrive, with the readiness edge they
  // brought. Our wait must not sleep on data that is still there.
  for_each_workers([] {
    auto p = make_pipe();
    char mine = 0;
    CHECK(read_fd(p.r.get_mut(), &mine, 1) == -1);
    CHECK(errno == EAGAIN);
    auto other = weft::spawn([&] {
      char c = 0;
      auto n = p.r.read_with([&](OwnedFd& fd) { return read_fd(fd, &c, 1); }, soon());
      return n == 1 ? c : '?';
    });
    weft::this_fiber::yield();
    CHECK(write_fd(p.w.get_mut(), "ab", 2) == 2);
    CHECK(other.join() == 'a');
    std::error_code ec;
    const auto t0 = Clock::now();
    CHECK(p.r.readable(ec, weft::deadline_in(2s)));
    CHECK(Clock::now() - t0 < 1s);
    CHECK(read_fd(p.r.get_mut(), &mine, 1) == 1);
    CHECK(mine == 'b');
  });
}

TEST_CASE("a descriptor is served while a thousand fibers keep yielding") {
  // A busy worker polls for descriptors only once its run queue has almost
  // run dry, and tells the reactor thread not to poll for it meanwhile;
  // 1,000 fibers that yield in turn never let it run dry. The pipe's reader
  // must still wake: the worker also polls every few milliseconds, whatever
  // its queue holds.
  for_each_workers([] {
    auto p = make_pipe();
    std::atomic<bool> stop{false};
    std::vector<weft::JoinHandle<void>> spinners;
    for (int i = 0; i < 1000; ++i)
      spinners.push_back(weft::spawn([&] {
        while (!stop.load(std::memory_order_relaxed)) weft::this_fiber::yield();
      }));
    // Go round the queue a few times first: the worker's first look is a
    // poll whatever the room. Then the reader runs at once, finds the pipe
    // empty and parks; only a poll can wake it (or its deadline, which fails
    // the case).
    for (int i = 0; i < 3; ++i) weft::this_fiber::yield();
    auto reader = weft::spawn([&] {
      char c = 0;
      std::error_code ec;
      auto n = p.r.read_with([&](OwnedFd& fd) { return read_fd(fd, &c, 1); }, ec, soon());
      return n == 1 ? c : '?';
    });
    CHECK(write_fd(p.w.get_mut(), "x", 1) == 1);
    CHECK(reader.join() == 'x');
    stop.store(true, std::memory_order_relaxed);
    for (auto& h : spinners) h.join();
  });
}

TEST_CASE("Async made on a plain thread, used there (poll) and then in a fiber") {
  Watchdog dog(60s, "Async outside fibers");
  const int fds_before = fd_count();
  {
    // Declared first so it outlives the pipe: an Async registered with a
    // runtime must not outlive it. It starts at block_on().
    weft::Runtime rt(weft::Config{}.worker_threads(2));
    auto p = make_pipe();
    std::error_code ec;
    auto t0 = Clock::now();
    CHECK_FALSE(p.r.readable(ec, weft::deadline_in(20ms)));
    CHECK(ec == std::errc::timed_out);
    CHECK(ms_since(t0) >= 20);
    std::thread writer([&] { p.w.write_with([](OwnedFd& fd) { return write_fd(fd, "t", 1); }, soon()); });
    char c;
    CHECK(p.r.read_with([&](OwnedFd& fd) { return read_fd(fd, &c, 1); }, soon()) == 1);
    writer.join();
    CHECK_FALSE(rt.running());
    rt.block_on([&] {
      // The first waits in a fiber register both ends.
      std::error_code wec;
      CHECK_FALSE(p.r.readable(wec, weft::deadline_in(1ms)));
      CHECK(wec == std::errc::timed_out);
      CHECK(p.w.writable(wec, soon()));
      auto w = weft::spawn([&] { p.w.write_with([](OwnedFd& fd) { return write_fd(fd, "f", 1); }, soon()); });
      CHECK(p.r.read_with([&](OwnedFd& fd) { return read_fd(fd, &c, 1); }, soon()) == 1);
      CHECK(c == 'f');
      w.join();
    });
    CHECK(rt.stats().registered_fds == 2);  // registered on first wait in a fiber
    OwnedFd raw = std::move(p.r).into_inner();
    CHECK(rt.stats().registered_fds == 1);
    CHECK(raw);
  }
  CHECK(fd_count() == fds_before);
}

namespace {

// Watch is an owner with fd() only; Handle one with neither fd() nor
// native_handle(), reached through a free as_fd() (fd_of's three forms).
struct Watch {
  OwnedFd owned;
  int fd() const noexcept { return owned.native_handle(); }
};
struct Handle {
  OwnedFd owned;
};
int as_fd(const Handle& h) { return h.owned.native_handle(); }

// make_raw() turns echo and line editing off, so bytes pass as written.
void make_raw(int fd) {
  termios t{};
  REQUIRE(::tcgetattr(fd, &t) == 0);
  ::cfmakeraw(&t);
  REQUIRE(::tcsetattr(fd, TCSANOW, &t) == 0);
}

}  // namespace

TEST_CASE("inotify: readable when a watched directory changes, not before") {
  for_each_workers([] {
    ScratchDir dir;
    int fd = ::inotify_init1(IN_CLOEXEC);  // Async makes it non-blocking
    REQUIRE(fd >= 0);
    Async<Watch> watch(Watch{OwnedFd(fd)});
    REQUIRE(::inotify_add_watch(watch.get_ref().fd(), dir.path().c_str(), IN_CREATE) >= 0);
    std::error_code ec;
    CHECK_FALSE(watch.readable(ec, weft::deadline_in(20ms)));
    CHECK(ec == std::errc::timed_out);
    auto maker = weft::spawn([&] {
      weft::this_fiber::yield();
      OwnedFd file(::open((dir.path() / "made").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
      return static_cast<bool>(file);
    });
    alignas(inotify_event) char buf[sizeof(inotify_event) + NAME_MAX + 1];
    auto n = watch.read_with([&](Watch& w) { return ::read(w.fd(), buf, sizeof buf); }, soon());
    CHECK(maker.join());
    REQUIRE(n >= static_cast<ssize_t>(sizeof(inotify_event)));
    const auto* ev = reinterpret_cast<const inotify_event*>(buf);
    CHECK((ev->mask & IN_CREATE) != 0);
    CHECK(std::string(ev->name) == "made");
  });
}

TEST_CASE("a pseudo-terminal: each side reads what the other writes, both through Async") {
  for_each_workers([] {
    int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    REQUIRE(master >= 0);
    OwnedFd master_fd(master);
    REQUIRE(::grantpt(master) == 0);
    REQUIRE(::unlockpt(master) == 0);
    char name[64];
    REQUIRE(::ptsname_r(master, name, sizeof name) == 0);
    OwnedFd slave_fd(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    REQUIRE(slave_fd);
    make_raw(slave_fd.native_handle());
    CHECK(::isatty(slave_fd.native_handle()) == 1);
    Async<OwnedFd> pty(std::move(master_fd));
    Async<Handle> tty(Handle{std::move(slave_fd)});
    std::error_code ec;
    CHECK_FALSE(pty.readable(ec, weft::deadline_in(20ms)));
    CHECK(ec == std::errc::timed_out);
    // The terminal side writes; the master side, parked, reads it.
    auto writer = weft::spawn([&] {
      weft::this_fiber::yield();
      return tty.write_with([](Handle& h) { return ::write(as_fd(h), "to master", 9); }, soon());
    });
    char buf[32];
    auto n = pty.read_with([&](OwnedFd& fd) { return read_fd(fd, buf, sizeof buf); }, soon());
    CHECK(writer.join() == 9);
    CHECK(std::string(buf, static_cast<std::size_t>(n)) == "to master");
    // And back: the terminal side parks until the master writes.
    auto back = weft::spawn([&] {
      weft::this_fiber::yield();
      return pty.write_with([](OwnedFd& fd) { return write_fd(fd, "to tty", 6); }, soon());
    });
    n = tty.read_with([&](Handle& h) { return ::read(as_fd(h), buf, sizeof buf); }, soon());
    CHECK(back.join() == 6);
    CHECK(std::string(buf, static_cast<std::size_t>(n)) == "to tty");
  });
}

TEST_CASE("a reused descriptor number and reactor slot carry no readiness of the old descriptor") {
  for_each_workers([] {
    // A readable pipe, registered while readable, then closed unread.
    auto old = make_pipe();
    std::error_code ec;
    CHECK(write_fd(old.w.get_mut(), "stale", 5) == 5);
    CHECK(old.r.readable(ec, soon()));  // registers it; that wait takes the first edge
    // A second edge that nobody waits for: the reactor records it in the slot
    // at its next poll, which these yields give it time for (the check below
    // holds whether or not it did).
    CHECK(write_fd(old.w.get_mut(), "more", 4) == 4);
    for (int i = 0; i < 200; ++i) weft::this_fiber::yield();
    const int number = old.r.native_handle();
    { auto gone = std::move(old.r); }  // unregistered and closed here
    // A new, empty pipe whose read end takes the old number.
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    if (fds[0] != number) {
      if (fds[1] == number) {  // move the write end out of the way first
        int moved = ::fcntl(fds[1], F_DUPFD_CLOEXEC, number + 1);
        REQUIRE(moved >= 0);
        ::close(fds[1]);
        fds[1] = moved;
      }
      REQUIRE(::dup3(fds[0], number, O_CLOEXEC) == number);
      ::close(fds[0]);
      fds[0] = number;
    }
    Pipe fresh{Async<OwnedFd>(OwnedFd(fds[0])), Async<OwnedFd>(OwnedFd(fds[1]))};
    auto t0 = Clock::now();
    CHECK_FALSE(fresh.r.readable(ec, weft::deadline_in(30ms)));
    CHECK(ec == std::errc::timed_out);
    CHECK(ms_since(t0) >= 30);
    // And it still works: a write wakes it.
    CHECK(write_fd(fresh.w.get_mut(), "new", 3) == 3);
    char buf[8];
    CHECK(fresh.r.read_with([&](OwnedFd& fd) { return read_fd(fd, buf, sizeof buf); }, soon()) == 3);
    CHECK(std::string(buf, 3) == "new");
  });
}
