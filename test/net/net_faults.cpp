// TCP faults, each with its own case: peer reset while reading and while
// writing, half-close, writes to a closed peer (EPIPE, and no SIGPIPE),
// connection refused, and connect timeout.
#include <signal.h>

#include <vector>

#include "support.hpp"

using namespace net_test;
using net::TcpListener;
using net::TcpStream;

namespace {

// reset() makes close() send RST instead of FIN.
void reset(TcpStream& s) {
  s.set_linger(std::chrono::seconds{0});
  s.close();
}

// with_default_sigpipe() makes sure a SIGPIPE would kill the process, so the
// EPIPE cases prove that none is raised.
struct DefaultSigpipe {
  DefaultSigpipe() { old = ::signal(SIGPIPE, SIG_DFL); }
  ~DefaultSigpipe() { ::signal(SIGPIPE, old); }
  void (*old)(int);
};

}  // namespace

TEST_CASE("peer reset while a fiber is parked in a read gives ECONNRESET") {
  for_each_workers([] {
    auto p = tcp_pair();
    auto reader = weft::spawn([&] {
      // Tell the server we are about to read; the read then parks.
      p.client.write_all("r", 1, kWait);
      char buf[16];
      std::error_code ec;
      std::size_t n = p.client.read_some(buf, sizeof buf, ec, kWait);
      CHECK(n == 0);
      return ec;
    });
    char c;
    p.server.read_exact(&c, 1, kWait);
    reset(p.server);
    CHECK(reader.join() == std::errc::connection_reset);
    // The error is reported once; afterwards the stream reads as ended.
    char buf[4];
    std::error_code ec;
    CHECK(p.client.read_some(buf, sizeof buf, ec, kWait) == 0);
    CHECK_FALSE(ec);
  });
}

TEST_CASE("peer reset while a fiber is parked in a write gives ECONNRESET or EPIPE") {
  DefaultSigpipe sig;
  for_each_workers([] {
    auto p = tcp_pair();
    std::vector<char> big(64 << 20, 'w');
    auto writer = weft::spawn([&] {
      std::error_code ec;
      std::size_t n = p.client.write_all(big.data(), big.size(), ec, kWait);
      CHECK(n < big.size());
      return ec;
    });
    // Once some data arrived the writer is under way; it fills the buffers
    // (the server reads no more) and parks, then the reset hits it.
    char c;
    p.server.read_exact(&c, 1, kWait);
    reset(p.server);
    std::error_code ec = writer.join();
    INFO(ec.message());
    CHECK((ec == std::errc::connection_reset || ec == std::errc::broken_pipe));
    // Later writes fail with EPIPE: the connection is gone.
    p.client.write(big.data(), 1, ec, kWait);
    CHECK(ec == std::errc::broken_pipe);
  });
}

TEST_CASE("half-close: shutdown(write) gives the peer end of stream, and it can still write back") {
  for_each_workers([] {
    auto p = tcp_pair();
    p.client.write_all("question", 8, kWait);
    p.client.shutdown(net::Shutdown::write);
    auto server = weft::spawn([&] {
      std::string got;
      char buf[64];
      for (;;) {
        std::size_t n = p.server.read_some(buf, sizeof buf, kWait);
        if (n == 0) break;  // end of stream: the client's shutdown
        got.append(buf, n);
      }
      CHECK(got == "question");
      p.server.write_all("answer", 6, kWait);
      p.server.close();
    });
    char buf[6];
    p.client.read_exact(buf, 6, kWait);
    CHECK(std::string(buf, 6) == "answer");
    CHECK(p.client.read_some(buf, sizeof buf, kWait) == 0);
    // read_exact past the end says so clearly.
    std::error_code ec;
    CHECK(p.client.read_exact(buf, 1, ec, kWait) == 0);
    CHECK(ec == net::Errc::unexpected_eof);
    CHECK(ec.message() == "unexpected end of stream");
    CHECK_THROWS_AS(p.client.read_exact(buf, 1, kWait), std::system_error);
    server.join();
  });
}

TEST_CASE("read_exact returns what it read before an early end") {
  for_each_workers([] {
    auto p = tcp_pair();
    p.server.write_all("abc", 3, kWait);
    p.server.shutdown(net::Shutdown::write);
    char buf[8];
    std::error_code ec;
    CHECK(p.client.read_exact(buf, 8, ec, kWait) == 3);
    CHECK(ec == net::Errc::unexpected_eof);
    CHECK(std::string(buf, 3) == "abc");
  });
}

TEST_CASE("writes after our own shutdown(write) fail with EPIPE, without SIGPIPE") {
  DefaultSigpipe sig;
  for_each_workers([] {
    auto p = tcp_pair();
    p.client.shutdown(net::Shutdown::write);
    std::error_code ec;
    CHECK(p.client.write("x", 1, ec, kWait) == 0);
    CHECK(ec == std::errc::broken_pipe);
    iovec v{const_cast<char*>("y"), 1};
    p.client.write_vectored({&v, 1}, ec, kWait);
    CHECK(ec == std::errc::broken_pipe);
    try {
      p.client.write_all("x", 1, kWait);
      FAIL("no error");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::broken_pipe);
    }
  });
}

TEST_CASE("writes to a peer that closed fail with EPIPE, and the process survives") {
  DefaultSigpipe sig;
  for_each_workers([] {
    auto p = tcp_pair();
    p.server.close();  // FIN; our first write then draws an RST
    std::error_code ec;
    char chunk[4096] = {};
    int writes = 0;
    while (!ec && writes < 100'000) {
      p.client.write(chunk, sizeof chunk, ec, kWait);
      ++writes;
    }
    INFO(ec.message());
    CHECK((ec == std::errc::broken_pipe || ec == std::errc::connection_reset));
    p.client.write(chunk, sizeof chunk, ec, kWait);
    CHECK(ec == std::errc::broken_pipe);
  });
}

TEST_CASE("connection refused") {
  for_each_workers([] {
    net::SocketAddress addr;
    {
      auto l = TcpListener::bind("127.0.0.1:0");
      addr = l.local_addr();
    }  // closed: nothing listens there now
    std::error_code ec;
    auto s = TcpStream::connect(addr, ec, kWait);
    CHECK(ec == std::errc::connection_refused);
    CHECK_FALSE(s.is_open());
    try {
      TcpStream::connect(addr, kWait);
      FAIL("connected to nothing");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::connection_refused);
      CHECK(std::string(e.what()).find(addr.to_string()) != std::string::npos);
    }
    // By string, every address refused: the last error is reported.
    TcpStream::connect("127.0.0.1:" + std::to_string(addr.port()), ec, kWait);
    CHECK(ec == std::errc::connection_refused);
  });
}

TEST_CASE("connect timeout against a listener whose backlog is full") {
  // Linux drops a SYN when the listener's accept queue is full, so the
  // handshake hangs in SYN_SENT until its retries run out: a reliable
  // connect timeout on loopback. Fill the queue, then time one out.
  for_each_workers([] {
    net::ListenOptions opts;
    opts.backlog = 1;
    auto listener = TcpListener::bind("127.0.0.1:0", opts);
    std::vector<TcpStream> queued;
    std::error_code ec;
    bool timed_out = false;
    for (int i = 0; i < 32 && !timed_out; ++i) {
      auto t0 = Clock::now();
      auto s = TcpStream::connect(listener.local_addr(), ec, 100ms);
      if (ec == std::errc::timed_out) {
        timed_out = true;
        CHECK(ms_since(t0) >= 100);
        CHECK(ms_since(t0) < 5000);
        CHECK_FALSE(s.is_open());
      } else {
        REQUIRE_FALSE(ec);
        queued.push_back(std::move(s));
      }
    }
    CHECK(timed_out);
    CHECK(queued.size() >= 1);
    // Accepting frees a place: a later connect gets through.
    listener.accept(kWait);
    bool connected = false;
    for (int i = 0; i < 10 && !connected; ++i) {
      auto s = TcpStream::connect(listener.local_addr(), ec, 2s);
      connected = !ec;
      if (ec) listener.accept(ec, 10ms);
    }
    CHECK(connected);
  });
}
