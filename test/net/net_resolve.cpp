// resolve(): getaddrinfo() on the blocking pool, its results, and its errors
// with getaddrinfo's own messages. Only names that need no DNS server are
// looked up (numeric hosts, "localhost", a bad service), so the cases pass
// without a network.
#include <netdb.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <string>
#include <vector>

#include "support.hpp"

using namespace net_test;
using net::SocketAddress;

TEST_CASE("resolve numeric hosts, localhost and the wildcard") {
  for (unsigned n : kWorkerCounts) {
    INFO("workers = " << n);
    const int fds_before = fd_count();
    {
      weft::Runtime rt(weft::Config{}.worker_threads(n));
      rt.block_on([] {
        auto v4 = net::resolve("127.0.0.1", "8080");
        REQUIRE(v4.size() == 1);
        CHECK(v4[0] == SocketAddress::parse("127.0.0.1:8080"));
        auto v6 = net::resolve("::1", "80");
        REQUIRE(v6.size() == 1);
        CHECK(v6[0] == SocketAddress::parse("[::1]:80"));
        auto local = net::resolve("localhost", "0");
        REQUIRE_FALSE(local.empty());
        bool loopback = std::any_of(local.begin(), local.end(), [](const SocketAddress& a) {
          return a == SocketAddress::parse("127.0.0.1:0") || a == SocketAddress::parse("[::1]:0");
        });
        CHECK(loopback);
        for (std::size_t i = 0; i < local.size(); ++i)  // no duplicates
          for (std::size_t j = i + 1; j < local.size(); ++j) CHECK(local[i] != local[j]);
        auto any = net::resolve("", "9");
        REQUIRE_FALSE(any.empty());
        for (auto& a : any) CHECK(a.port() == 9);
        // Many lookups at once from many fibers.
        std::vector<weft::JoinHandle<std::size_t>> hs;
        for (int i = 0; i < 50; ++i)
          hs.push_back(weft::spawn([i] { return net::resolve("127.0.0.1", std::to_string(i + 1)).size(); }));
        for (auto& h : hs) CHECK(h.join() == 1);
      });
      // The lookups ran on the blocking pool, not on a worker.
      CHECK(rt.stats().blocking_threads > 0);
      CHECK(rt.stats().registered_fds == 0);
    }
    CHECK(fd_count() == fds_before);
  }
}

TEST_CASE("resolve errors carry getaddrinfo's message") {
  for_each_workers([] {
    std::error_code ec;
    auto none = net::resolve("127.0.0.1", "no-such-service-for-weft", ec);
    CHECK(none.empty());
    REQUIRE(ec);
    CHECK(ec.category() == net::resolve_category());
    CHECK(std::string(ec.category().name()) == "weft.resolve");
    CHECK(ec.value() == EAI_SERVICE);
    CHECK(ec.message() == gai_strerror(EAI_SERVICE));
    // Ports beyond 16 bits are refused, not truncated.
    net::resolve("127.0.0.1", "65536", ec);
    CHECK(ec.value() == EAI_SERVICE);
    CHECK(net::resolve("127.0.0.1", "65535", ec).at(0).port() == 65535);
    try {
      net::resolve("127.0.0.1", "no-such-service-for-weft");
      FAIL("no error");
    } catch (const std::system_error& e) {
      std::string what = e.what();
      CHECK(what.find("no-such-service-for-weft") != std::string::npos);
      CHECK(what.find(gai_strerror(EAI_SERVICE)) != std::string::npos);
    }
  });
}

TEST_CASE("resolve with a deadline: timed_out while the lookup cannot run, cancellation at once, nothing left behind") {
  for (unsigned n : kWorkerCounts) {
    INFO("workers = " << n);
    Watchdog dog(120s, "resolve deadlines with " + std::to_string(n) + " workers");
    const int fds_before = fd_count();
    {
      // One blocking thread, held by a job the test releases: lookups queue
      // behind it for as long as the test wants.
      weft::Runtime rt(weft::Config{}.worker_threads(n).max_blocking_threads(1));
      rt.block_on([&] {
        std::promise<void> release;
        std::shared_future<void> gate = release.get_future().share();
        std::atomic<bool> holding{false};
        auto holder = weft::spawn([&, gate] {
          weft::unblock([&, gate] {
            holding = true;
            gate.wait();
          });
        });
        REQUIRE(fiber_wait_until([&] { return holding.load(); }, kWait));

        auto t0 = Clock::now();
        std::error_code ec;
        CHECK(net::resolve("localhost", "80", ec, 50ms).empty());
        CHECK(ec == std::errc::timed_out);
        CHECK(Clock::now() - t0 >= 50ms);
        CHECK(Clock::now() - t0 < kWait);
        // The throwing form, bounded by a deadline scope.
        CHECK(thrown_code([] { weft::with_timeout(30ms, [] { net::resolve("localhost", "80"); }); }) ==
              std::errc::timed_out);
        // A deadline already past fails at once, without a lookup.
        CHECK(net::resolve("localhost", "80", ec, weft::deadline_in(-1s)).empty());
        CHECK(ec == std::errc::timed_out);
        // connect("name:port") resolves within the connect's own limit.
        auto listener = net::TcpListener::bind("127.0.0.1:0");
        const std::string target = "localhost:" + std::to_string(listener.local_addr().port());
        t0 = Clock::now();
        net::TcpStream::connect(target, ec, 50ms);
        CHECK(ec == std::errc::timed_out);
        CHECK(Clock::now() - t0 < kWait);
        // A cancelled fiber stops waiting for the lookup at once.
        const auto base = rt.stats().pending_timers;
        auto waiter = weft::spawn([] {
          std::error_code wec;
          net::resolve("localhost", "80", wec, 1h);
          return wec;
        });
        REQUIRE(fiber_wait_until([&] { return rt.stats().pending_timers > base; }, kWait));
        waiter.cancel();
        CHECK(waiter.join() == std::errc::operation_canceled);

        // Released, the pool runs the abandoned lookups (which free
        // themselves) and then answers a new one in time.
        release.set_value();
        holder.join();
        auto found = net::resolve("localhost", "80", ec, kWait);
        CHECK_FALSE(ec);
        CHECK_FALSE(found.empty());
        for (auto& a : found) CHECK(a.port() == 80);
      });
      CHECK(rt.stats().registered_fds == 0);
      CHECK(wait_until([&] { return rt.stats().pending_timers == 0; }, 10'000ms));
      CHECK(rt.stats().live_fibers == 0);
    }
    CHECK(fd_count() == fds_before);
  }
}

TEST_CASE("resolve with a deadline on a plain thread runs the lookup on a thread of its own") {
  std::error_code ec;
  auto v = net::resolve("localhost", "7", ec, kWait);
  CHECK_FALSE(ec);
  REQUIRE_FALSE(v.empty());
  CHECK(v[0].port() == 7);
  CHECK(net::resolve("localhost", "7", ec, weft::deadline_in(-1s)).empty());
  CHECK(ec == std::errc::timed_out);
}

TEST_CASE("resolve on a plain thread runs inline") {
  auto v = net::resolve("127.0.0.1", "1");
  REQUIRE(v.size() == 1);
  CHECK(v[0].port() == 1);
}

TEST_CASE("split_host_port") {
  std::string_view h, p;
  CHECK(net::split_host_port("example.com:80", h, p));
  CHECK(h == "example.com");
  CHECK(p == "80");
  CHECK(net::split_host_port("[::1]:443", h, p));
  CHECK(h == "::1");
  CHECK(p == "443");
  CHECK(net::split_host_port(":http", h, p));
  CHECK(h.empty());
  CHECK(p == "http");
  CHECK_FALSE(net::split_host_port("no-port", h, p));
  CHECK_FALSE(net::split_host_port("[::1:80", h, p));
  CHECK_FALSE(net::split_host_port("a]b:80", h, p));
}
