// Hooked reads and writes on descriptors the program left blocking: from a
// fiber they must return what libc's blocking calls return (the data, 0 at
// end of stream, the whole count of a stream write, a whole datagram with
// its sender) while parking only the calling fiber. Every kind of descriptor
// a program meets: TCP, UDP, AF_UNIX socketpairs, pipes and a pseudo-tty.
#include <pty.h>
#include <sys/uio.h>
#include <termios.h>

#include <cstring>
#include <string>
#include <vector>

#include "support.hpp"

using namespace hook_test;

namespace {

// StreamKind names the stream descriptors every read/write case runs on.
enum class StreamKind { tcp, unix_stream, pipe };
constexpr StreamKind kStreams[] = {StreamKind::tcp, StreamKind::unix_stream, StreamKind::pipe};

std::string name_of(StreamKind k) {
  switch (k) {
    case StreamKind::tcp: return "tcp";
    case StreamKind::unix_stream: return "socketpair";
    default: return "pipe";
  }
}

// stream() is a pair where a reads and b writes.
FdPair stream(StreamKind k) {
  switch (k) {
    case StreamKind::tcp: return tcp_pair();
    case StreamKind::unix_stream: return unix_pair(SOCK_STREAM);
    default: return pipe_pair();
  }
}

// pattern() is n bytes that differ from one offset to the next, so a lost or
// repeated chunk shows.
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

// drain() reads exactly n bytes from fd in small pieces, yielding between
// them so the writer has to park and resume many times.
std::string drain(int fd, std::size_t n) {
  std::string got;
  char buf[16 * 1024];
  while (got.size() < n) {
    ssize_t r = ::read(fd, buf, std::min(sizeof buf, n - got.size()));
    if (r <= 0) break;
    got.append(buf, static_cast<std::size_t>(r));
    weft::this_fiber::yield();
  }
  return got;
}

}  // namespace

TEST_CASE("read parks the fiber until data comes, on TCP, socketpairs and pipes") {
  for_each_workers([](const Env& env) {
    for (StreamKind k : kStreams) {
      auto p = stream(k);
      Sidekick side([&] { CHECK(::write(p.b.get(), "hello", 5) == 5); });
      char buf[16] = {};
      ssize_t n = side.call([&] { return ::read(p.a.get(), buf, sizeof buf); });
      CHECK_MESSAGE(n == 5, name_of(k));
      CHECK_MESSAGE(std::string(buf, 5) == "hello", name_of(k));
      side.finish(env.workers);
    }
  });
}

TEST_CASE("read returns 0 at end of stream, after parking") {
  for_each_workers([](const Env& env) {
    for (StreamKind k : kStreams) {
      auto p = stream(k);
      Sidekick side([&] {
        // A socket ends with shutdown(SHUT_WR); a pipe when its writer closes.
        if (k == StreamKind::pipe) {
          p.b.reset();
        } else {
          CHECK(::shutdown(p.b.get(), SHUT_WR) == 0);
        }
      });
      char buf[16];
      errno = 0;
      ssize_t n = side.call([&] { return ::read(p.a.get(), buf, sizeof buf); });
      CHECK_MESSAGE(n == 0, name_of(k) << ": errno " << last_errno());
      side.finish(env.workers);
    }
  });
}

namespace {

// big_write() writes kBig bytes on a stream kind while a reader fiber drains
// them, and checks the count and the bytes. With one worker the reader must
// have run on the writer's own thread: the write parked, it did not block.
// Run it with kNoSpares (support.hpp): a spare worker could run the reader.

void big_write(StreamKind k, const Env& env) {
  constexpr std::size_t kBig = 4 << 20;
  const std::string data = pattern(kBig);
  auto p = stream(k);
  std::string got;
  std::thread::id reader_thread{};
  auto reader = weft::spawn([&] {
    got = drain(p.a.get(), kBig);
    reader_thread = std::this_thread::get_id();
  });
  const auto writer_thread = std::this_thread::get_id();
  ssize_t n = ::write(p.b.get(), data.data(), data.size());
  CHECK_MESSAGE(n == static_cast<ssize_t>(kBig), name_of(k) << ": errno " << last_errno());
  const bool same_thread = writer_thread == std::this_thread::get_id();
  reader.join();
  CHECK_MESSAGE(got.size() == kBig, name_of(k));
  CHECK_MESSAGE(got == data, name_of(k));
  if (env.workers == 1 && same_thread)
    CHECK_MESSAGE(reader_thread == writer_thread, name_of(k) << ": the reader ran on another thread");
}

}  // namespace

TEST_CASE("a socket write larger than the kernel buffer returns the whole count") {
  // 4 MiB is far beyond a loopback socket's buffer, so the write has to
  // wait for the reader many times; libc's blocking write returns N.
  for_each_workers(
      [&](const Env& env) {
        big_write(StreamKind::tcp, env);
        big_write(StreamKind::unix_stream, env);
      },
      120'000ms, kNoSpares);
}

TEST_CASE("send, writev and sendmsg of large buffers return the whole count") {
  constexpr std::size_t kBig = 3 << 20;
  const std::string data = pattern(kBig);
  for_each_workers([&](const Env&) {
    for (int call = 0; call < 3; ++call) {
      const std::string what = call == 0 ? "send" : call == 1 ? "writev" : "sendmsg";
      auto p = tcp_pair();
      std::string got;
      auto reader = weft::spawn([&] { got = drain(p.a.get(), kBig); });
      // Three pieces of unequal length, so a partial vector shows.
      iovec iov[3] = {{const_cast<char*>(data.data()), 1000},
                      {const_cast<char*>(data.data()) + 1000, kBig / 2},
                      {const_cast<char*>(data.data()) + 1000 + kBig / 2, kBig - 1000 - kBig / 2}};
      ssize_t n = -1;
      if (call == 0) {
        n = ::send(p.b.get(), data.data(), kBig, 0);
      } else if (call == 1) {
        n = ::writev(p.b.get(), iov, 3);
      } else {
        msghdr m{};
        m.msg_iov = iov;
        m.msg_iovlen = 3;
        n = ::sendmsg(p.b.get(), &m, 0);
      }
      CHECK_MESSAGE(n == static_cast<ssize_t>(kBig), what << ": errno " << last_errno());
      reader.join();
      CHECK_MESSAGE(got == data, what);
    }
  });
}

TEST_CASE("readv and recvmsg park, then scatter into several buffers") {
  for_each_workers([](const Env& env) {
    for (int call = 0; call < 2; ++call) {
      auto p = unix_pair(SOCK_STREAM);
      Sidekick side([&] { CHECK(::write(p.b.get(), "abcdefgh", 8) == 8); });
      char x[3] = {}, y[5] = {};
      iovec iov[2] = {{x, sizeof x}, {y, sizeof y}};
      ssize_t n = side.call([&] {
        if (call == 0) return ::readv(p.a.get(), iov, 2);
        msghdr m{};
        m.msg_iov = iov;
        m.msg_iovlen = 2;
        return ::recvmsg(p.a.get(), &m, 0);
      });
      CHECK(n == 8);
      CHECK(std::string(x, 3) == "abc");
      CHECK(std::string(y, 5) == "defgh");
      side.finish(env.workers);
    }
  });
}

TEST_CASE("recv with MSG_WAITALL waits until the whole length has come") {
  for_each_workers([](const Env&) {
    auto p = tcp_pair();
    // Three small writes with pauses: a recv without MSG_WAITALL would
    // return after the first.
    auto writer = weft::spawn([&] {
      for (const char* piece : {"one-", "two-", "three"}) {
        CHECK(::send(p.b.get(), piece, std::strlen(piece), 0) == static_cast<ssize_t>(std::strlen(piece)));
        weft::this_fiber::sleep_for(5ms);
      }
    });
    char buf[13] = {};
    ssize_t n = ::recv(p.a.get(), buf, sizeof buf, MSG_WAITALL);
    CHECK(n == 13);
    CHECK(std::string(buf, 13) == "one-two-three");
    writer.join();
  });
}

TEST_CASE("recv and send on TCP park and return what libc returns") {
  for_each_workers([](const Env& env) {
    auto p = tcp_pair();
    Sidekick side([&] { CHECK(::send(p.b.get(), "ping", 4, 0) == 4); });
    char buf[8] = {};
    ssize_t n = side.call([&] { return ::recv(p.a.get(), buf, sizeof buf, 0); });
    CHECK(n == 4);
    CHECK(std::string(buf, 4) == "ping");
    side.finish(env.workers);
    // MSG_PEEK leaves the data for the next recv.
    Sidekick again([&] { CHECK(::send(p.b.get(), "pong", 4, 0) == 4); });
    n = again.call([&] { return ::recv(p.a.get(), buf, sizeof buf, MSG_PEEK); });
    CHECK(n == 4);
    again.finish(env.workers);
    CHECK(::recv(p.a.get(), buf, sizeof buf, 0) == 4);
    CHECK(std::string(buf, 4) == "pong");
  });
}

TEST_CASE("recvfrom and recvmsg on UDP park until a datagram comes, and name its sender") {
  for_each_workers([](const Env& env) {
    for (int call = 0; call < 2; ++call) {
      Fd rx(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      Fd tx(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      REQUIRE(rx);
      REQUIRE(tx);
      sockaddr_in any = loopback();
      REQUIRE(::bind(rx.get(), reinterpret_cast<sockaddr*>(&any), sizeof any) == 0);
      REQUIRE(::bind(tx.get(), reinterpret_cast<sockaddr*>(&any), sizeof any) == 0);
      const sockaddr_in to = local_addr(rx.get());
      Sidekick side([&] {
        CHECK(::sendto(tx.get(), "datagram", 8, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 8);
      });
      char buf[64] = {};
      sockaddr_in from{};
      socklen_t from_len = sizeof from;
      ssize_t n = side.call([&] {
        if (call == 0) return ::recvfrom(rx.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
        iovec iov{buf, sizeof buf};
        msghdr m{};
        m.msg_name = &from;
        m.msg_namelen = sizeof from;
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        ssize_t r = ::recvmsg(rx.get(), &m, 0);
        from_len = m.msg_namelen;
        return r;
      });
      CHECK(n == 8);
      CHECK(std::string(buf, 8) == "datagram");
      CHECK(from_len == sizeof from);
      CHECK(same_addr(from, local_addr(tx.get())));
      side.finish(env.workers);
    }
  });
}

TEST_CASE("a datagram is returned whole, one per read, on UDP and AF_UNIX datagram pairs") {
  for_each_workers([](const Env& env) {
    for (bool udp : {true, false}) {
      auto p = udp ? udp_pair() : unix_pair(SOCK_DGRAM);
      Sidekick side([&] {
        CHECK(::send(p.b.get(), "first", 5, 0) == 5);
        CHECK(::send(p.b.get(), "second!", 7, 0) == 7);
      });
      char buf[64];
      ssize_t n = side.call([&] { return ::read(p.a.get(), buf, sizeof buf); });
      CHECK(n == 5);
      side.finish(env.workers);
      CHECK(::recv(p.a.get(), buf, sizeof buf, 0) == 7);
      CHECK(std::string(buf, 7) == "second!");
    }
  });
}

TEST_CASE("two fibers reading one socket both park and each gets a message") {
  for_each_workers([](const Env&) {
    auto p = unix_pair(SOCK_SEQPACKET);
    std::atomic<int> got{0};
    std::atomic<int> entered{0};
    std::vector<weft::JoinHandle<void>> readers;
    for (int i = 0; i < 2; ++i) {
      readers.push_back(weft::spawn([&] {
        char buf[8];
        entered.fetch_add(1);
        ssize_t n = ::read(p.a.get(), buf, sizeof buf);
        CHECK(n == 3);
        if (n == 3) got.fetch_add(1);
      }));
    }
    CHECK(fiber_wait_until([&] { return entered.load() == 2; }));
    CHECK(::write(p.b.get(), "one", 3) == 3);
    CHECK(::write(p.b.get(), "two", 3) == 3);
    for (auto& r : readers) r.join();
    CHECK(got.load() == 2);
  });
}

TEST_CASE("read on a pseudo-terminal parks the fiber until a line comes") {
  for_each_workers([](const Env& env) {
    int master = -1, slave = -1;
    REQUIRE(::openpty(&master, &slave, nullptr, nullptr, nullptr) == 0);
    Fd m(master), s(slave);
    // Raw mode: bytes pass as written, with no echo back to the master.
    termios t{};
    REQUIRE(::tcgetattr(s.get(), &t) == 0);
    ::cfmakeraw(&t);
    REQUIRE(::tcsetattr(s.get(), TCSANOW, &t) == 0);
    Sidekick side([&] { CHECK(::write(m.get(), "tty", 3) == 3); });
    char buf[8] = {};
    ssize_t n = side.call([&] { return ::read(s.get(), buf, sizeof buf); });
    CHECK(n == 3);
    CHECK(std::string(buf, 3) == "tty");
    side.finish(env.workers);
  });
}

// Last in the file: a write that blocks its worker instead of parking hangs
// with one worker, and the watchdog then ends the whole executable.
TEST_CASE("a pipe write larger than the pipe buffer returns the whole count") {
  for_each_workers([&](const Env& env) { big_write(StreamKind::pipe, env); }, 120'000ms, kNoSpares);
}
