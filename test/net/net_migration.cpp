// Forced migration under load (DESIGN.md hazard 1): a fiber may park on one
// worker and resume on another, and glibc lets the compiler keep the address
// of the old thread's errno across a call. Many fibers make syscalls fail
// with specific errno values while they yield and park all the time (so they
// move between workers), and noise fibers keep every thread's errno at
// EAGAIN. Each failure must carry exactly its own error code.
#include <sys/socket.h>

#include <string>
#include <vector>

#include "support.hpp"

using namespace net_test;
using net::TcpListener;
using net::TcpStream;

namespace {

constexpr int kFibers = 400;
constexpr int kIterations = 18;

// Mover tracks the worker a fiber runs on and counts the moves it sees.
struct Mover {
  int last = weft::this_fiber::worker_index();
  int moves = 0;
  void look() {
    int now = weft::this_fiber::worker_index();
    moves += now != last;
    last = now;
  }
  void churn(int n) {
    for (int i = 0; i < n; ++i) {
      weft::this_fiber::yield();
      look();
    }
  }
};

// Outcome of one failing call, for the failure message.
struct Outcome {
  const char* what;
  std::error_code got;
  std::error_code want;
};

// one_case() runs failure kind `kind` once and reports the code it got.
Outcome one_case(int kind, TcpListener& listener, Mover& m, unsigned salt) {
  char buf[64] = {};
  std::error_code ec;
  switch (kind) {
    case 0: {  // peer reset while we are parked in a read
      auto c = TcpStream::connect(listener.local_addr(), kWait);
      auto s = listener.accept(kWait).stream;
      auto killer = weft::spawn([&, salt] {
        for (unsigned i = 0; i < salt % 7; ++i) weft::this_fiber::yield();
        s.set_linger(std::chrono::seconds{0});
        s.close();
      });
      c.read_some(buf, sizeof buf, ec, kWait);
      m.look();
      killer.join();
      return {"read, parked, then reset", ec, std::make_error_code(std::errc::connection_reset)};
    }
    case 1: {  // reset first, then read after moving around
      auto c = TcpStream::connect(listener.local_addr(), kWait);
      auto s = listener.accept(kWait).stream;
      s.set_linger(std::chrono::seconds{0});
      s.close();
      m.churn(3);
      c.read_some(buf, sizeof buf, ec, kWait);
      m.look();
      return {"read after reset", ec, std::make_error_code(std::errc::connection_reset)};
    }
    case 2: {  // write after our own shutdown(write)
      auto c = TcpStream::connect(listener.local_addr(), kWait);
      auto s = listener.accept(kWait).stream;
      c.shutdown(net::Shutdown::write);
      m.churn(2);
      c.write(buf, sizeof buf, ec, kWait);
      m.look();
      return {"write after shutdown(write)", ec, std::make_error_code(std::errc::broken_pipe)};
    }
    case 3: {  // read on a never-connected TCP socket
      TcpStream c(weft::OwnedFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)));
      m.churn(2);
      c.read_some(buf, sizeof buf, ec, kWait);
      m.look();
      return {"read unconnected", ec, std::make_error_code(std::errc::not_connected)};
    }
    case 4: {  // a read that parks and times out
      auto c = TcpStream::connect(listener.local_addr(), kWait);
      auto s = listener.accept(kWait).stream;
      c.read_some(buf, sizeof buf, ec, std::chrono::milliseconds(1 + salt % 3));
      m.look();
      return {"read timeout", ec, std::make_error_code(std::errc::timed_out)};
    }
    default: {  // read on a shut-down socket: end of stream, no error at all
      auto c = TcpStream::connect(listener.local_addr(), kWait);
      auto s = listener.accept(kWait).stream;
      auto closer = weft::spawn([&] {
        weft::this_fiber::yield();
        s.shutdown(net::Shutdown::write);
      });
      std::size_t n = c.read_some(buf, sizeof buf, ec, kWait);
      m.look();
      closer.join();
      if (n != 0) ec = std::make_error_code(std::errc::protocol_error);
      return {"read at end of stream", ec, std::error_code()};
    }
  }
}

}  // namespace

TEST_CASE("errno values stay exact while fibers move between workers") {
  for_each_workers(
      [](unsigned workers) {
        std::atomic<bool> stop{false};
        std::atomic<long> noise_ops{0};

        // Noise: ping-pong over Unix pairs; every read that finds nothing
        // sets its thread's errno to EAGAIN and parks.
        std::vector<weft::JoinHandle<void>> noise;
        for (int i = 0; i < 8; ++i) {
          noise.push_back(weft::spawn([&] {
            auto [a, b] = net::UnixStream::pair();
            auto echo = weft::spawn([&b, &stop] {
              char c;
              while (b.read_some(&c, 1, kWait) == 1) b.write_all(&c, 1, kWait);
            });
            char c = 'n';
            while (!stop.load(std::memory_order_relaxed)) {
              a.write_all(&c, 1, kWait);
              a.read_exact(&c, 1, kWait);
              noise_ops.fetch_add(1, std::memory_order_relaxed);
            }
            a.shutdown(net::Shutdown::write);
            echo.join();
          }));
        }

        std::atomic<int> wrong{0}, total_moves{0}, done{0};
        std::vector<weft::JoinHandle<std::string>> fibers;
        for (int f = 0; f < kFibers; ++f) {
          fibers.push_back(weft::spawn([&, f] {
            auto listener = TcpListener::bind("127.0.0.1:0");
            Mover m;
            std::string report;
            for (int it = 0; it < kIterations; ++it) {
              int kind = (f + it) % 6;
              Outcome o = one_case(kind, listener, m, static_cast<unsigned>(f * 31 + it));
              if (o.got != o.want) {
                ++wrong;
                if (report.empty())
                  report = std::string(o.what) + ": got " + o.got.message() + ", want " +
                           (o.want ? o.want.message() : "no error");
              }
              m.churn(1 + (f + it) % 4);
            }
            total_moves += m.moves;
            ++done;
            return report;
          }));
        }
        for (auto& h : fibers) {
          std::string r = h.join();
          CHECK_MESSAGE(r.empty(), r);
        }
        stop = true;
        for (auto& h : noise) h.join();
        CHECK(wrong.load() == 0);
        CHECK(done.load() == kFibers);
        CHECK(noise_ops.load() > 0);
        MESSAGE("worker moves seen: " << total_moves.load() << ", noise round trips: " << noise_ops.load());
        // With several workers the fibers must actually have moved, or the
        // test proves nothing; with one worker nothing can move.
        if (workers > 1) CHECK(total_moves.load() > 0);
        if (workers == 1) CHECK(total_moves.load() == 0);
      },
      300'000ms);
}
