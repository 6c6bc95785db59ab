// Unix-domain sockets: UnixListener and UnixStream at a path and in the
// abstract namespace, UnixStream::pair, the shared stream calls and faults,
// and UnixDatagram (bind, unbound, pair, send/recv, send_to/recv_from).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "support.hpp"

using namespace net_test;
using net::SocketAddress;
using net::UnixDatagram;
using net::UnixListener;
using net::UnixStream;

namespace {

// TempDir is a fresh directory for socket paths, removed with its sockets.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/weft-net-XXXXXX";
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    for (auto& f : files_) ::unlink(f.c_str());
    ::rmdir(path_.c_str());
  }
  std::string file(const std::string& name) {
    files_.push_back(path_ + "/" + name);
    return files_.back();
  }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

std::string unique_name(const char* what) {
  static std::atomic<int> n{0};
  return std::string("weft-net-test-") + what + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

}  // namespace

TEST_CASE("listener at a path: accept, echo, addresses") {
  TempDir dir;
  for_each_workers([&dir] {
    std::string path = dir.file(unique_name("echo"));
    auto listener = UnixListener::bind(path);
    CHECK(listener.local_addr().path() == path);
    auto server = weft::spawn([&] {
      auto [s, peer] = listener.accept(kWait);
      CHECK(peer.is_unix());
      char buf[128];
      for (;;) {
        std::size_t n = s.read_some(buf, sizeof buf, kWait);
        if (n == 0) break;
        s.write_all(buf, n, kWait);
      }
    });
    auto c = UnixStream::connect(path, kWait);
    CHECK(c.peer_addr() == SocketAddress::unix_path(path));
    CHECK(c.local_addr().to_string() == "(unnamed)");
    std::string msg(100'000, 'u');
    auto writer = weft::spawn([&] {
      c.write_all(msg.data(), msg.size(), kWait);
      c.shutdown(net::Shutdown::write);
    });
    std::string back(msg.size(), '\0');
    c.read_exact(back.data(), back.size(), kWait);
    CHECK(back == msg);
    char x;
    CHECK(c.read_some(&x, 1, kWait) == 0);
    writer.join();
    server.join();
    // The path stays until removed; binding it again fails.
    std::error_code ec;
    UnixListener::bind(path, {}, ec);
    CHECK(ec == std::errc::address_in_use);
  });
}

TEST_CASE("abstract namespace") {
  for_each_workers([] {
    auto addr = SocketAddress::unix_abstract(unique_name("abstract"));
    auto listener = UnixListener::bind(addr);
    CHECK(listener.local_addr() == addr);
    auto c = UnixStream::connect(addr, kWait);
    auto s = listener.accept(kWait).stream;
    c.write_all("hi", 2, kWait);
    char buf[2];
    s.read_exact(buf, 2, kWait);
    CHECK(std::string(buf, 2) == "hi");
  });
}

TEST_CASE("pair: read/write API, vectored, half-close, EPIPE, reset, deadlines, zero-length, after close") {
  for_each_workers([] {
    auto [a, b] = UnixStream::pair();
    CHECK(a.is_open());
    char buf[16];
    std::error_code ec;
    // Zero-length calls return at once.
    CHECK(a.read_some(buf, 0, ec, kWait) == 0);
    CHECK_FALSE(ec);
    CHECK(a.write(buf, 0, ec, kWait) == 0);
    CHECK_FALSE(ec);
    // Deadlines.
    auto t0 = Clock::now();
    a.read_some(buf, sizeof buf, ec, 30ms);
    CHECK(ec == std::errc::timed_out);
    CHECK(ms_since(t0) >= 30);
    // Vectored.
    char p1[] = "ab", p2[] = "cde";
    iovec v[] = {{p1, 2}, {p2, 3}};
    a.write_all_vectored(v, kWait);
    b.read_exact(buf, 5, kWait);
    CHECK(std::string(buf, 5) == "abcde");
    // Half-close: b sees end of stream and still answers.
    a.shutdown(net::Shutdown::write);
    CHECK(b.read_some(buf, sizeof buf, kWait) == 0);
    b.write_all("ok", 2, kWait);
    a.read_exact(buf, 2, kWait);
    CHECK(std::string(buf, 2) == "ok");
    // Writing after shutdown(write): EPIPE, no SIGPIPE.
    a.write("x", 1, ec, kWait);
    CHECK(ec == std::errc::broken_pipe);
    // Closing with unread data resets the peer.
    b.write_all("unread", 6, kWait);
    a.close();
    b.read_some(buf, sizeof buf, ec, kWait);
    CHECK(ec == std::errc::connection_reset);
    a.read_some(buf, 1, ec);
    CHECK(ec == std::errc::bad_file_descriptor);
    b.close();
    b.write_all("x", 1, ec);
    CHECK(ec == std::errc::bad_file_descriptor);
  });
}

TEST_CASE("peer closes while a fiber is parked in a write: EPIPE") {
  for_each_workers([] {
    auto [a, b] = UnixStream::pair();
    std::vector<char> big(8 << 20, 'x');
    auto writer = weft::spawn([&a = a, &big] {
      std::error_code ec;
      a.write_all(big.data(), big.size(), ec, kWait);
      return ec;
    });
    char c;
    b.read_exact(&c, 1, kWait);
    b.close();
    std::error_code ec = writer.join();
    INFO(ec.message());
    CHECK((ec == std::errc::broken_pipe || ec == std::errc::connection_reset));
  });
}

TEST_CASE("connect errors, and connect waits while the backlog is full") {
  TempDir dir;
  for_each_workers([&dir] {
    std::error_code ec;
    UnixStream::connect(dir.file(unique_name("missing")), ec, kWait);
    CHECK(ec == std::errc::no_such_file_or_directory);
    UnixStream::connect(std::string(200, 'x'), ec, kWait);
    CHECK(ec == std::errc::filename_too_long);
    UnixStream::connect(SocketAddress::parse("127.0.0.1:1"), ec, kWait);
    CHECK(ec == std::errc::address_family_not_supported);

    net::ListenOptions opts;
    opts.backlog = 1;
    auto addr = SocketAddress::unix_abstract(unique_name("backlog"));
    auto listener = UnixListener::bind(addr, opts);
    std::vector<UnixStream> queued;
    bool timed_out = false;
    for (int i = 0; i < 16 && !timed_out; ++i) {
      auto t0 = Clock::now();
      auto s = UnixStream::connect(addr, ec, 50ms);
      if (ec == std::errc::timed_out) {
        timed_out = true;
        CHECK(ms_since(t0) >= 50);
      } else {
        REQUIRE_FALSE(ec);
        queued.push_back(std::move(s));
      }
    }
    CHECK(timed_out);
    // A connect that waits gets through once the listener accepts.
    auto waiting = weft::spawn([&] {
      std::error_code wec;
      auto s = UnixStream::connect(addr, wec, kWait);
      return !wec && s.is_open();
    });
    for (std::size_t i = 0; i <= queued.size(); ++i) listener.accept(kWait);
    CHECK(waiting.join());
  });
}

TEST_CASE("datagrams: bind, send_to/recv_from, unbound, connect, pair") {
  TempDir dir;
  for_each_workers([&dir] {
    std::string pa = dir.file(unique_name("dga")), pb = dir.file(unique_name("dgb"));
    auto a = UnixDatagram::bind(pa);
    auto b = UnixDatagram::bind(SocketAddress::unix_path(pb));
    CHECK(a.local_addr().path() == pa);
    CHECK(a.send_to("hello", 5, b.local_addr(), kWait) == 5);
    char buf[16];
    auto r = b.recv_from(buf, sizeof buf, kWait);
    CHECK(r.size == 5);
    CHECK(r.from.path() == pa);
    // Empty datagrams count.
    a.send_to("", 0, b.local_addr(), kWait);
    CHECK(b.recv(buf, sizeof buf, kWait) == 0);
    // An unbound sender has no name to answer to.
    auto u = UnixDatagram::unbound();
    u.send_to("anon", 4, b.local_addr(), kWait);
    r = b.recv_from(buf, sizeof buf, kWait);
    CHECK(r.size == 4);
    CHECK(r.from.path().empty());
    // Connected.
    u.connect(a.local_addr());
    CHECK(u.peer_addr() == a.local_addr());
    u.send("c", 1, kWait);
    CHECK(a.recv(buf, sizeof buf, kWait) == 1);
    // Deadline.
    std::error_code ec;
    auto t0 = Clock::now();
    a.recv(buf, sizeof buf, ec, 30ms);
    CHECK(ec == std::errc::timed_out);
    CHECK(ms_since(t0) >= 30);
    // Pair.
    auto [x, y] = UnixDatagram::pair();
    auto rx = weft::spawn([&y = y] {
      char b2[8];
      return std::string(b2, y.recv(b2, sizeof b2, kWait));
    });
    x.send("pair", 4, kWait);
    CHECK(rx.join() == "pair");
    // Abstract names work for datagrams too.
    auto ab = UnixDatagram::bind(SocketAddress::unix_abstract(unique_name("dg")));
    x.send_to("z", 1, ab.local_addr(), kWait);
    CHECK(ab.recv(buf, 1, kWait) == 1);
    ab.close();
    ab.recv(buf, 1, ec);
    CHECK(ec == std::errc::bad_file_descriptor);
  });
}

TEST_CASE("accept, a write into a full stream and a send to a full datagram peer time out; the counts are exact") {
  TempDir dir;
  for_each_workers([&dir] {
    auto listener = UnixListener::bind(dir.file(unique_name("timeouts")));
    std::error_code ec;
    auto t0 = Clock::now();
    auto none = listener.accept(ec, 40ms);
    CHECK(ec == std::errc::timed_out);
    CHECK(ms_since(t0) >= 40);
    CHECK_FALSE(none.stream.is_open());
    CHECK(thrown_code([&] { listener.accept(10ms); }) == std::errc::timed_out);

    // Nobody reads b: a's writes fill the socket buffers and stop.
    auto [a, b] = UnixStream::pair();
    const std::string big(8 << 20, 'w');
    t0 = Clock::now();
    const std::size_t wrote = a.write_all(big.data(), big.size(), ec, 50ms);
    CHECK(ec == std::errc::timed_out);
    CHECK(ms_since(t0) >= 50);
    REQUIRE(wrote > 0);
    REQUIRE(wrote < big.size());
    // What write_all reported is exactly what arrived.
    std::string got(wrote, '\0');
    b.read_exact(got.data(), got.size(), kWait);
    CHECK(got == big.substr(0, wrote));
    char extra[16];
    CHECK(b.read_some(extra, sizeof extra, ec, 20ms) == 0);
    CHECK(ec == std::errc::timed_out);
    CHECK(thrown_code([&] { a.write_all(big.data(), big.size(), 20ms); }) == std::errc::timed_out);

    // Datagrams: fill the peer's queue until a send waits out its limit.
    auto [x, y] = UnixDatagram::pair();
    char msg[1024] = {};
    std::size_t sent = 0;
    for (;;) {
      x.send(msg, sizeof msg, ec, 50ms);
      if (ec) break;
      REQUIRE(++sent < 1'000'000);
    }
    CHECK(ec == std::errc::timed_out);
    CHECK(sent > 0);
    // One taken off the queue makes room for one more.
    CHECK(y.recv(msg, sizeof msg, kWait) == sizeof msg);
    CHECK(x.send(msg, sizeof msg, ec, kWait) == sizeof msg);
    CHECK_FALSE(ec);
    std::size_t received = 1;
    while (y.recv(msg, sizeof msg, ec, 20ms) == sizeof msg) ++received;
    CHECK(ec == std::errc::timed_out);
    CHECK(received == sent + 1);  // nothing lost, nothing doubled
  });
}
