// Outside a fiber every hooked call is libc's: a plain thread (or a job on
// the blocking pool) blocks in read and write even on a socket that a fiber
// used before, when the hook may have made it non-blocking behind the
// program's back. Each blocking case proves the thread really slept in the
// kernel before the data came: the other side writes only once /proc shows
// the reader's thread asleep.
#include <poll.h>
#include <time.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "support.hpp"

using namespace hook_test;

namespace {

// thread_sleeping() is whether thread tid of this process is asleep ('S').
bool thread_sleeping(pid_t tid) {
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string stat;
  std::getline(f, stat);
  auto close_paren = stat.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < stat.size() && stat[close_paren + 2] == 'S';
}

// BlockingRead reads one byte on a plain thread and reports its result.
struct BlockingRead {
  std::atomic<pid_t> tid{0};
  ssize_t n = -2;
  int err = 0;
  char c = 0;
  std::thread thread;
  explicit BlockingRead(int fd)
      : thread([this, fd] {
          tid = ::gettid();
          errno = 0;
          n = ::read(fd, &c, 1);
          err = last_errno();
        }) {}
  // asleep() waits (bounded) until the reader sleeps in the kernel.
  bool asleep() {
    return wait_until([&] { return tid.load() != 0 && thread_sleeping(tid.load()); }, kWait);
  }
};

// use_in_fiber() makes a fiber park in a read on fd, so the hook takes it over.
void use_in_fiber(int fd, int peer) {
  auto writer = weft::spawn([&] {
    weft::this_fiber::yield();
    CHECK(::write(peer, "f", 1) == 1);
  });
  char c;
  CHECK(::read(fd, &c, 1) == 1);
  writer.join();
}

}  // namespace

TEST_CASE("a plain thread blocks in read on a socket a fiber used, until data comes") {
  for_each_workers([](const Env&) {
    for (int kind = 0; kind < 3; ++kind) {
      const std::string what = kind == 0 ? "tcp" : kind == 1 ? "socketpair" : "pipe";
      auto p = kind == 0 ? tcp_pair() : kind == 1 ? unix_pair() : pipe_pair();
      use_in_fiber(p.a.get(), p.b.get());
      // The runtime is still up; the read is made by a plain thread.
      BlockingRead r(p.a.get());
      bool slept = r.asleep();
      CHECK(::write(p.b.get(), "t", 1) == 1);
      r.thread.join();
      CHECK_MESSAGE(slept, what << ": the plain thread never slept in read");
      CHECK_MESSAGE(r.n == 1, what << ": read returned " << r.n << ", errno " << r.err);
      CHECK_MESSAGE(r.c == 't', what);
      CHECK_MESSAGE(!shows_nonblocking(p.a.get()), what);
    }
  });
}

TEST_CASE("a plain thread's large write on a socket a fiber used returns the whole count") {
  for_each_workers([](const Env&) {
    auto p = tcp_pair();
    use_in_fiber(p.b.get(), p.a.get());
    use_in_fiber(p.a.get(), p.b.get());
    const std::string big(4 << 20, 'w');
    ssize_t n = -2;
    int err = 0;
    std::thread writer([&] {
      n = ::write(p.b.get(), big.data(), big.size());
      err = last_errno();
    });
    std::string got;
    std::thread reader([&] {
      char buf[64 * 1024];
      while (got.size() < big.size()) {
        ssize_t r = ::read(p.a.get(), buf, sizeof buf);
        if (r <= 0) break;
        got.append(buf, static_cast<std::size_t>(r));
      }
    });
    writer.join();
    reader.join();
    CHECK_MESSAGE(n == static_cast<ssize_t>(big.size()), "write returned " << n << ", errno " << err);
    CHECK(got.size() == big.size());
  });
}

TEST_CASE("a blocking-pool job blocks in read like libc") {
  for_each_workers([](const Env&) {
    auto p = unix_pair();
    use_in_fiber(p.a.get(), p.b.get());
    std::atomic<pid_t> tid{0};
    auto answer = weft::spawn([&] {
      // Answer once the pool thread sleeps in the kernel.
      bool slept = fiber_wait_until([&] { return tid.load() != 0 && thread_sleeping(tid.load()); });
      CHECK_MESSAGE(slept, "the pool thread never slept in read");
      CHECK(::write(p.b.get(), "u", 1) == 1);
    });
    char c = 0;
    ssize_t n = weft::unblock([&] {
      tid = ::gettid();
      return ::read(p.a.get(), &c, 1);
    });
    answer.join();
    CHECK(n == 1);
    CHECK(c == 'u');
  });
}

TEST_CASE("plain threads get libc's sleeps, timeouts and errors while a runtime runs") {
  for_each_workers([](const Env&) {
    auto p = unix_pair();
    use_in_fiber(p.a.get(), p.b.get());
    std::thread t([&] {
      auto t0 = Clock::now();
      timespec ts{0, 50'000'000};
      CHECK(::nanosleep(&ts, nullptr) == 0);
      CHECK(ms_since(t0) >= 50);
      pollfd pfd{p.a.get(), POLLIN, 0};
      t0 = Clock::now();
      CHECK(::poll(&pfd, 1, 50) == 0);
      CHECK(ms_since(t0) >= 45);
      timeval tv{0, 50'000};
      REQUIRE(::setsockopt(p.a.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
      char c;
      errno = 0;
      t0 = Clock::now();
      CHECK(::read(p.a.get(), &c, 1) == -1);
      CHECK(last_errno() == EAGAIN);
      CHECK(ms_since(t0) >= 45);
      errno = 0;
      CHECK(::recv(p.a.get(), &c, 1, MSG_DONTWAIT) == -1);
      CHECK(last_errno() == EAGAIN);
      Fd s = tcp_socket();
      errno = 0;
      CHECK(connect_to(s.get(), closed_port()) == -1);
      CHECK(last_errno() == ECONNREFUSED);
      errno = 0;
      CHECK(::read(-1, &c, 1) == -1);
      CHECK(last_errno() == EBADF);
    });
    t.join();
  });
}

TEST_CASE("a socket used by a fiber of a runtime that is gone works in the next one and on plain threads") {
  Watchdog dog(60'000ms, "descriptor across runtimes");
  auto p = unix_pair();
  for (unsigned n : kWorkerCounts) {
    weft::Runtime rt(weft::Config{}.worker_threads(n));
    rt.block_on([&] {
      Sidekick side([&] { CHECK(::write(p.b.get(), "r", 1) == 1); });
      char c = 0;
      ssize_t got = side.call([&] { return ::read(p.a.get(), &c, 1); });
      side.finish(n);
      CHECK(got == 1);
    });
  }
  // Every runtime is gone; the main thread blocks in read like libc.
  BlockingRead r(p.a.get());
  bool slept = r.asleep();
  CHECK(::write(p.b.get(), "m", 1) == 1);
  r.thread.join();
  CHECK(slept);
  CHECK(r.n == 1);
}
