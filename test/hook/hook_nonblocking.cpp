// Descriptors the program itself made non-blocking (fcntl O_NONBLOCK,
// SOCK_NONBLOCK, ioctl FIONBIO, pipe2 O_NONBLOCK, or MSG_DONTWAIT on one
// call) keep returning EAGAIN from a fiber: the hook must not wait on them.
// And F_GETFL shows O_NONBLOCK only when the program set it, whatever the
// hook does to the descriptor behind its back.
#include <poll.h>
#include <sys/ioctl.h>

#include <string>

#include "support.hpp"

using namespace hook_test;

namespace {

// read_eagain() is whether a read on an empty fd fails at once with EAGAIN.
bool read_eagain(int fd) {
  char c;
  errno = 0;
  auto t0 = Clock::now();
  ssize_t n = ::read(fd, &c, 1);
  return n == -1 && last_errno() == EAGAIN && ms_since(t0) < 1000;
}

// reads_after_parking() is whether a read on fd parks until the sidekick
// writes to peer, as a blocking descriptor should.
bool reads_after_parking(int fd, int peer, unsigned workers) {
  Sidekick side([&] { CHECK(::write(peer, "z", 1) == 1); });
  char c = 0;
  ssize_t n = side.call([&] { return ::read(fd, &c, 1); });
  side.finish(workers);
  return n == 1 && c == 'z';
}

}  // namespace

TEST_CASE("fcntl O_NONBLOCK set by the program gives EAGAIN, and clearing it blocks again") {
  for_each_workers([](const Env& env) {
    for (int kind = 0; kind < 3; ++kind) {
      auto p = kind == 0 ? tcp_pair() : kind == 1 ? unix_pair() : pipe_pair();
      const std::string what = kind == 0 ? "tcp" : kind == 1 ? "socketpair" : "pipe";
      set_nonblocking(p.a.get(), true);
      CHECK_MESSAGE(shows_nonblocking(p.a.get()), what);
      CHECK_MESSAGE(read_eagain(p.a.get()), what);
      set_nonblocking(p.a.get(), false);
      CHECK_MESSAGE(!shows_nonblocking(p.a.get()), what);
      CHECK_MESSAGE(reads_after_parking(p.a.get(), p.b.get(), env.workers), what);
    }
  });
}

TEST_CASE("SOCK_NONBLOCK sockets and O_NONBLOCK pipes give EAGAIN") {
  for_each_workers([](const Env&) {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    Fd a(sv[0]), b(sv[1]);
    CHECK(shows_nonblocking(a.get()));
    CHECK(read_eagain(a.get()));

    auto p = pipe_pair(O_NONBLOCK);
    CHECK(shows_nonblocking(p.a.get()));
    CHECK(read_eagain(p.a.get()));

    // A non-blocking listener with nobody connecting: accept gives EAGAIN.
    Fd l = tcp_listener(16, SOCK_NONBLOCK);
    errno = 0;
    CHECK(::accept(l.get(), nullptr, nullptr) == -1);
    CHECK(last_errno() == EAGAIN);
  });
}

TEST_CASE("ioctl FIONBIO turns non-blocking mode on and off") {
  for_each_workers([](const Env& env) {
    auto p = tcp_pair();
    int on = 1;
    REQUIRE(::ioctl(p.a.get(), FIONBIO, &on) == 0);
    CHECK(read_eagain(p.a.get()));
    CHECK(shows_nonblocking(p.a.get()));
    int off = 0;
    REQUIRE(::ioctl(p.a.get(), FIONBIO, &off) == 0);
    CHECK_FALSE(shows_nonblocking(p.a.get()));
    CHECK(reads_after_parking(p.a.get(), p.b.get(), env.workers));
  });
}

TEST_CASE("MSG_DONTWAIT makes one call non-blocking and leaves the socket blocking") {
  for_each_workers([](const Env& env) {
    auto p = unix_pair();
    char c;
    errno = 0;
    CHECK(::recv(p.a.get(), &c, 1, MSG_DONTWAIT) == -1);
    CHECK(last_errno() == EAGAIN);
    CHECK_FALSE(shows_nonblocking(p.a.get()));
    CHECK(reads_after_parking(p.a.get(), p.b.get(), env.workers));
  });
}

TEST_CASE("a full non-blocking socket gives EAGAIN on write, after a partial count") {
  for_each_workers([](const Env&) {
    auto p = unix_pair();
    set_nonblocking(p.b.get(), true);
    const std::string chunk(64 * 1024, 'w');
    ssize_t n = 0;
    int writes = 0;
    // The socket buffer is a few hundred KiB at most: it fills well before
    // this bound, and then write must fail rather than wait for a reader.
    while (writes < 1000 && (n = ::write(p.b.get(), chunk.data(), chunk.size())) > 0) ++writes;
    CHECK(writes > 0);
    CHECK(writes < 1000);
    CHECK(n == -1);
    CHECK(last_errno() == EAGAIN);
  });
}

TEST_CASE("F_GETFL hides the O_NONBLOCK the hook uses on a socket fibers wait on") {
  for_each_workers([](const Env& env) {
    auto p = tcp_pair();
    const int before = ::fcntl(p.a.get(), F_GETFL);
    CHECK((before & O_NONBLOCK) == 0);
    // After a read that parked (so the hook took the socket over), the
    // program still sees the flags it set.
    CHECK(reads_after_parking(p.a.get(), p.b.get(), env.workers));
    CHECK(::fcntl(p.a.get(), F_GETFL) == before);
    // The program's other status flags still reach the kernel and show.
    REQUIRE(::fcntl(p.a.get(), F_SETFL, before | O_APPEND) == 0);
    CHECK((::fcntl(p.a.get(), F_GETFL) & (O_APPEND | O_NONBLOCK)) == O_APPEND);
    // A write still returns the whole count from a fiber on the hidden
    // non-blocking socket.
    CHECK(::write(p.a.get(), "ok", 2) == 2);
    char buf[2];
    CHECK(::recv(p.b.get(), buf, 2, MSG_WAITALL) == 2);
  });
}

TEST_CASE("a non-blocking connect gives EINPROGRESS and completes like libc's") {
  for_each_workers([](const Env&) {
    Fd l = tcp_listener();
    Fd c = tcp_socket(SOCK_NONBLOCK);
    errno = 0;
    int rc = connect_to(c.get(), local_addr(l.get()));
    // Loopback may complete at once; otherwise it says EINPROGRESS, never
    // waits.
    CHECK((rc == 0 || last_errno() == EINPROGRESS));
    pollfd pfd{c.get(), POLLOUT, 0};
    CHECK(::poll(&pfd, 1, 10'000) == 1);
    int err = -1;
    socklen_t len = sizeof err;
    CHECK(::getsockopt(c.get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0);
    CHECK(err == 0);
    CHECK(shows_nonblocking(c.get()));
  });
}
