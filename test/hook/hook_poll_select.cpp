// Hooked poll and select over several descriptors: they park the fiber
// until one is ready (and then fill revents / the fd_sets as libc does) or the
// timeout passes (returning 0). A zero timeout never parks; no descriptors
// and a timeout make a sleep.
#include <poll.h>
#include <sys/select.h>

#include "support.hpp"

using namespace hook_test;

namespace {

// Three socketpairs: the calls under test watch the a ends.
struct Three {
  FdPair p[3] = {unix_pair(), unix_pair(), unix_pair()};
};

timeval tv_of(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

}  // namespace

TEST_CASE("poll over three sockets parks until one is readable and reports only it") {
  for_each_workers([](const Env& env) {
    Three t;
    Sidekick side([&] { CHECK(::write(t.p[1].b.get(), "r", 1) == 1); });
    pollfd fds[3] = {{t.p[0].a.get(), POLLIN, -1}, {t.p[1].a.get(), POLLIN, -1}, {t.p[2].a.get(), POLLIN, -1}};
    int n = side.call([&] { return ::poll(fds, 3, 10'000); });
    side.finish(env.workers);
    CHECK(n == 1);
    CHECK(fds[0].revents == 0);
    CHECK(fds[1].revents == POLLIN);
    CHECK(fds[2].revents == 0);
  });
}

TEST_CASE("poll with timeout -1 waits for readiness; POLLOUT and POLLHUP as libc") {
  for_each_workers([](const Env& env) {
    Three t;
    Sidekick side([&] { t.p[2].b.reset(); });  // the peer goes away
    pollfd fds[2] = {{t.p[0].a.get(), POLLIN, 0}, {t.p[2].a.get(), POLLIN, 0}};
    int n = side.call([&] { return ::poll(fds, 2, -1); });
    side.finish(env.workers);
    CHECK(n == 1);
    CHECK(fds[0].revents == 0);
    CHECK((fds[1].revents & (POLLIN | POLLHUP)) != 0);
    // A writable socket is ready at once.
    pollfd w{t.p[0].a.get(), POLLOUT, 0};
    CHECK(::poll(&w, 1, 10'000) == 1);
    CHECK(w.revents == POLLOUT);
  });
}

TEST_CASE("poll times out with 0 and clears revents, while other fibers run") {
  for_each_workers([](const Env& env) {
    Three t;
    pollfd fds[3] = {{t.p[0].a.get(), POLLIN, -1}, {t.p[1].a.get(), POLLIN, -1}, {t.p[2].a.get(), POLLIN, -1}};
    Sidekick side([] {});
    auto t0 = Clock::now();
    int n = side.call([&] { return ::poll(fds, 3, 100); });
    auto ms = ms_since(t0);
    side.finish(env.workers);
    CHECK(n == 0);
    CHECK(ms >= 95);
    CHECK(ms < 5000);
    for (auto& f : fds) CHECK(f.revents == 0);
  });
}

TEST_CASE("poll with timeout 0 never parks") {
  for_each_workers([](const Env& env) {
    Three t;
    CHECK(::write(t.p[2].b.get(), "x", 1) == 1);
    std::atomic<bool> stop{false};
    std::atomic<long> ticks{0};
    auto other = weft::spawn([&] {
      while (!stop.load()) {
        ticks.fetch_add(1);
        weft::this_fiber::yield();
      }
    });
    pollfd fds[3] = {{t.p[0].a.get(), POLLIN, 0}, {t.p[1].a.get(), POLLIN, 0}, {t.p[2].a.get(), POLLIN, 0}};
    long before = ticks.load();
    int ready = ::poll(fds, 3, 0);
    int none = ::poll(fds, 2, 0);
    long after = ticks.load();
    stop = true;
    other.join();
    CHECK(ready == 1);
    CHECK(fds[2].revents == POLLIN);
    CHECK(none == 0);
    // With one worker the other fiber runs only if poll gave the thread up.
    if (env.workers == 1) CHECK(after == before);
  });
}

TEST_CASE("poll reports POLLNVAL for a closed descriptor without waiting") {
  for_each_workers([](const Env&) {
    Three t;
    int gone = t.p[1].a.release();
    ::close(gone);
    pollfd fds[2] = {{t.p[0].a.get(), POLLIN, 0}, {gone, POLLIN, 0}};
    auto t0 = Clock::now();
    CHECK(::poll(fds, 2, 5000) == 1);
    CHECK(ms_since(t0) < 1000);
    CHECK(fds[1].revents == POLLNVAL);
    CHECK(fds[0].revents == 0);
  });
}

TEST_CASE("poll and select with no descriptors and a timeout sleep the fiber") {
  for_each_workers([](const Env& env) {
    Sidekick side([] {});
    auto t0 = Clock::now();
    int n = side.call([] { return ::poll(nullptr, 0, 80); });
    CHECK(n == 0);
    CHECK(ms_since(t0) >= 75);
    side.finish(env.workers);

    Sidekick again([] {});
    timeval tv = tv_of(80ms);
    t0 = Clock::now();
    n = again.call([&] { return ::select(0, nullptr, nullptr, nullptr, &tv); });
    CHECK(n == 0);
    CHECK(ms_since(t0) >= 75);
    again.finish(env.workers);
  });
}

TEST_CASE("select over three sockets parks until one is readable and leaves only it set") {
  for_each_workers([](const Env& env) {
    Three t;
    Sidekick side([&] { CHECK(::write(t.p[0].b.get(), "s", 1) == 1); });
    fd_set rd;
    FD_ZERO(&rd);
    int maxfd = -1;
    for (auto& p : t.p) {
      FD_SET(p.a.get(), &rd);
      maxfd = std::max(maxfd, p.a.get());
    }
    timeval tv = tv_of(10'000ms);
    int n = side.call([&] { return ::select(maxfd + 1, &rd, nullptr, nullptr, &tv); });
    side.finish(env.workers);
    CHECK(n == 1);
    CHECK(FD_ISSET(t.p[0].a.get(), &rd));
    CHECK_FALSE(FD_ISSET(t.p[1].a.get(), &rd));
    CHECK_FALSE(FD_ISSET(t.p[2].a.get(), &rd));
  });
}

TEST_CASE("select with a NULL timeout waits; read and write sets together") {
  for_each_workers([](const Env& env) {
    Three t;
    // Fill p[1]'s a end so it is not writable, then watch it for writing
    // and p[2] for reading.
    set_nonblocking(t.p[1].a.get(), true);
    const std::string chunk(64 * 1024, 'f');
    while (::write(t.p[1].a.get(), chunk.data(), chunk.size()) > 0) {
    }
    set_nonblocking(t.p[1].a.get(), false);
    Sidekick side([&] { CHECK(::write(t.p[2].b.get(), "s", 1) == 1); });
    fd_set rd, wr;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_SET(t.p[2].a.get(), &rd);
    FD_SET(t.p[1].a.get(), &wr);
    int maxfd = std::max(t.p[1].a.get(), t.p[2].a.get());
    int n = side.call([&] { return ::select(maxfd + 1, &rd, &wr, nullptr, nullptr); });
    side.finish(env.workers);
    CHECK(n == 1);
    CHECK(FD_ISSET(t.p[2].a.get(), &rd));
    CHECK_FALSE(FD_ISSET(t.p[1].a.get(), &wr));
  });
}

TEST_CASE("select times out with 0 and empty sets; a zero timeval never parks") {
  for_each_workers([](const Env& env) {
    Three t;
    fd_set rd;
    FD_ZERO(&rd);
    for (auto& p : t.p) FD_SET(p.a.get(), &rd);
    int maxfd = std::max({t.p[0].a.get(), t.p[1].a.get(), t.p[2].a.get()});
    timeval tv = tv_of(100ms);
    auto t0 = Clock::now();
    CHECK(::select(maxfd + 1, &rd, nullptr, nullptr, &tv) == 0);
    auto ms = ms_since(t0);
    CHECK(ms >= 95);
    CHECK(ms < 5000);
    for (auto& p : t.p) CHECK_FALSE(FD_ISSET(p.a.get(), &rd));

    std::atomic<bool> stop{false};
    std::atomic<long> ticks{0};
    auto other = weft::spawn([&] {
      while (!stop.load()) {
        ticks.fetch_add(1);
        weft::this_fiber::yield();
      }
    });
    FD_ZERO(&rd);
    FD_SET(t.p[0].a.get(), &rd);
    timeval zero{0, 0};
    long before = ticks.load();
    int n = ::select(maxfd + 1, &rd, nullptr, nullptr, &zero);
    long after = ticks.load();
    stop = true;
    other.join();
    CHECK(n == 0);
    if (env.workers == 1) CHECK(after == before);
  });
}

TEST_CASE("select on a closed descriptor fails with EBADF") {
  for_each_workers([](const Env&) {
    Three t;
    int gone = t.p[1].a.release();
    ::close(gone);
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(t.p[0].a.get(), &rd);
    FD_SET(gone, &rd);
    timeval tv = tv_of(5000ms);
    errno = 0;
    auto t0 = Clock::now();
    CHECK(::select(std::max(gone, t.p[0].a.get()) + 1, &rd, nullptr, nullptr, &tv) == -1);
    CHECK(last_errno() == EBADF);
    CHECK(ms_since(t0) < 1000);
  });
}
