// Hooked close and dup: closing a descriptor another fiber waits on ends
// that fiber's call with EBADF (it must not hang); copies made by dup, dup2,
// dup3 and F_DUPFD behave like the original; and a descriptor number reused
// after close carries nothing of its old life.
#include <string>

#include "support.hpp"

using namespace hook_test;

TEST_CASE("close of a descriptor another fiber reads from fails that read with EBADF") {
  for_each_workers([](const Env& env) {
    for (int kind = 0; kind < 3; ++kind) {
      const std::string what = kind == 0 ? "tcp" : kind == 1 ? "socketpair" : "pipe";
      auto p = kind == 0 ? tcp_pair() : kind == 1 ? unix_pair() : pipe_pair();
      const int fd = p.a.release();
      Sidekick side([&] { CHECK(::close(fd) == 0); });
      char c;
      errno = 0;
      auto t0 = Clock::now();
      ssize_t n = side.call([&] { return ::read(fd, &c, 1); });
      int err = last_errno();
      side.finish(env.workers);
      CHECK_MESSAGE(n == -1, what);
      CHECK_MESSAGE(err == EBADF, what << ": errno " << err);
      CHECK_MESSAGE(ms_since(t0) < 5000, what);
    }
  });
}

TEST_CASE("close of a listener another fiber accepts on fails the accept with EBADF") {
  for_each_workers([](const Env& env) {
    Fd l = tcp_listener();
    const int fd = l.release();
    Sidekick side([&] { CHECK(::close(fd) == 0); });
    errno = 0;
    int s = side.call([&] { return ::accept(fd, nullptr, nullptr); });
    int err = last_errno();
    side.finish(env.workers);
    CHECK(s == -1);
    CHECK(err == EBADF);
  });
}

TEST_CASE("close twice gives EBADF the second time") {
  for_each_workers([](const Env&) {
    auto p = unix_pair();
    char c;
    CHECK(::write(p.b.get(), "x", 1) == 1);
    CHECK(::read(p.a.get(), &c, 1) == 1);  // the hook has seen it
    const int fd = p.a.release();
    CHECK(::close(fd) == 0);
    errno = 0;
    CHECK(::close(fd) == -1);
    CHECK(last_errno() == EBADF);
    errno = 0;
    CHECK(::read(fd, &c, 1) == -1);
    CHECK(last_errno() == EBADF);
  });
}

TEST_CASE("a dup reads and writes like the original, and outlives it") {
  for_each_workers([](const Env& env) {
    auto p = tcp_pair();
    Fd copy(::dup(p.a.get()));
    REQUIRE(copy);
    Sidekick side([&] { CHECK(::write(p.b.get(), "dup", 3) == 3); });
    char buf[4] = {};
    ssize_t n = side.call([&] { return ::read(copy.get(), buf, sizeof buf); });
    side.finish(env.workers);
    CHECK(n == 3);
    CHECK(std::string(buf, 3) == "dup");
    // The original closed, the copy still parks and reads.
    p.a.reset();
    Sidekick again([&] { CHECK(::write(p.b.get(), "two", 3) == 3); });
    n = again.call([&] { return ::read(copy.get(), buf, sizeof buf); });
    again.finish(env.workers);
    CHECK(n == 3);
    CHECK(::write(copy.get(), "back", 4) == 4);
    CHECK(::recv(p.b.get(), buf, 4, MSG_WAITALL) == 4);
  });
}

TEST_CASE("dup2 and dup3 onto an open number make it the new descriptor") {
  for_each_workers([](const Env& env) {
    auto first = unix_pair();
    auto second = tcp_pair();
    // Use first.a in a fiber so the hook has a record of that number.
    CHECK(::write(first.b.get(), "1", 1) == 1);
    char c;
    CHECK(::read(first.a.get(), &c, 1) == 1);
    const int target = first.a.get();
    for (bool three : {false, true}) {
      int rc = three ? ::dup3(second.a.get(), target, O_CLOEXEC) : ::dup2(second.a.get(), target);
      CHECK(rc == target);
      CHECK(((::fcntl(target, F_GETFD) & FD_CLOEXEC) != 0) == three);
      // target now reads the TCP connection, and parks until it has data.
      Sidekick side([&] { CHECK(::write(second.b.get(), "2", 1) == 1); });
      c = 0;
      ssize_t n = side.call([&] { return ::read(target, &c, 1); });
      side.finish(env.workers);
      CHECK(n == 1);
      CHECK(c == '2');
      CHECK_FALSE(shows_nonblocking(target));
    }
    // dup2 onto itself changes nothing.
    CHECK(::dup2(target, target) == target);
  });
}

TEST_CASE("F_DUPFD and F_DUPFD_CLOEXEC copy like dup") {
  for_each_workers([](const Env& env) {
    auto p = unix_pair();
    // Used in a fiber first, so that the hook knows the socket before it is
    // copied (copies of a socket no fiber has used yet: see README).
    char probe;
    CHECK(::write(p.a.get(), "p", 1) == 1);
    CHECK(::read(p.b.get(), &probe, 1) == 1);
    Fd low(::fcntl(p.a.get(), F_DUPFD, 100));
    Fd cloexec(::fcntl(p.a.get(), F_DUPFD_CLOEXEC, 0));
    REQUIRE(low);
    REQUIRE(cloexec);
    CHECK(low.get() >= 100);
    CHECK((::fcntl(cloexec.get(), F_GETFD) & FD_CLOEXEC) != 0);
    for (int fd : {low.get(), cloexec.get()}) {
      Sidekick side([&] { CHECK(::write(p.b.get(), "f", 1) == 1); });
      char c = 0;
      errno = 0;
      ssize_t n = side.call([&] { return ::read(fd, &c, 1); });
      int err = last_errno();
      side.finish(env.workers);
      CHECK_MESSAGE(n == 1, std::string(fd == low.get() ? "F_DUPFD" : "F_DUPFD_CLOEXEC") << ": errno " << err);
      CHECK(c == 'f');
    }
  });
}

TEST_CASE("O_NONBLOCK set by the program is shared with its dups, as in the kernel") {
  for_each_workers([](const Env&) {
    auto p = unix_pair();
    Fd copy(::dup(p.a.get()));
    REQUIRE(copy);
    set_nonblocking(p.a.get(), true);
    CHECK(shows_nonblocking(copy.get()));
    char c;
    errno = 0;
    CHECK(::read(copy.get(), &c, 1) == -1);
    CHECK(last_errno() == EAGAIN);
    // A dup made after the flag was set shares it too.
    Fd later(::dup(p.a.get()));
    CHECK(shows_nonblocking(later.get()));
    errno = 0;
    CHECK(::read(later.get(), &c, 1) == -1);
    CHECK(last_errno() == EAGAIN);
  });
}

namespace {
// move_onto() puts `end`, one end of a new pair, on descriptor number
// `number`, which the test has just closed; `other` is the pair's other end.
// The new pair takes the lowest free numbers, but that need not be `number`:
// a descriptor another thread of the process opened and closed meanwhile
// leaves a lower one free. Then `end` lands below, and `other` may land on
// `number` itself: it moves out of the way first, or dup2 would close it.
void move_onto(Fd& end, Fd& other, int number) {
  if (end.get() == number) return;
  if (other.get() == number) {
    const int moved = ::fcntl(number, F_DUPFD_CLOEXEC, 0);
    REQUIRE(moved >= 0);
    other = Fd(moved);  // closes `number`
  }
  REQUIRE(::dup2(end.get(), number) == number);
  end = Fd(number);
}
}  // namespace

TEST_CASE("a descriptor number reused after close carries nothing of the old one") {
  for_each_workers([](const Env& env) {
    // The program made the old socket non-blocking; the new one on the
    // same number is blocking and must park.
    auto old = unix_pair();
    set_nonblocking(old.a.get(), true);
    char c;
    CHECK(::read(old.a.get(), &c, 1) == -1);
    const int number = old.a.get();
    old.a.reset();
    auto fresh = unix_pair();
    Fd reader = std::move(fresh.a);
    move_onto(reader, fresh.b, number);
    Sidekick side([&] { CHECK(::write(fresh.b.get(), "n", 1) == 1); });
    errno = 0;
    ssize_t n = side.call([&] { return ::read(reader.get(), &c, 1); });
    side.finish(env.workers);
    CHECK_MESSAGE(n == 1, "errno " << last_errno());

    // The old socket had a receive timeout; the pipe now on its number has
    // none and waits for its data.
    auto timed = unix_pair();
    timeval tv{0, 20'000};
    REQUIRE(::setsockopt(timed.a.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    const int tnum = timed.a.get();
    timed.a.reset();
    auto pipe = pipe_pair();
    Fd rd = std::move(pipe.a);
    move_onto(rd, pipe.b, tnum);
    auto writer = weft::spawn([&] {
      weft::this_fiber::sleep_for(100ms);
      CHECK(::write(pipe.b.get(), "p", 1) == 1);
    });
    errno = 0;
    CHECK_MESSAGE(::read(rd.get(), &c, 1) == 1, "errno " << last_errno());
    writer.join();
  });
}
