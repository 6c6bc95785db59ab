// Thousands of concurrent connections: 2000 client fibers connect to one
// server fiber, and none sends before all 2000 are accepted (the server says
// "go" only then), so every connection is open at the same time. Then each
// echoes a few messages of its own and closes.
#include <sys/resource.h>

#include <algorithm>
#include <string>
#include <vector>

#include "support.hpp"

using namespace net_test;
using net::TcpListener;
using net::TcpStream;

namespace {

constexpr int kClients = 2000;
constexpr int kRounds = 4;

std::string message(int client, int round) {
  std::string s = "client " + std::to_string(client) + " round " + std::to_string(round) + " ";
  s.resize(64 + (client * 7 + round * 13) % 400, static_cast<char>('a' + (client + round) % 26));
  return s;
}

}  // namespace

TEST_CASE("2000 concurrent echo connections") {
  // Raise the soft descriptor limit as far as the hard one allows (shells
  // often start at 1,024); only a hard limit too low for the test skips it.
  rlimit lim{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &lim) == 0);
  const rlim_t need = 2 * kClients + 200;
  if (lim.rlim_cur < need && lim.rlim_max > lim.rlim_cur) {
    lim.rlim_cur = std::min(lim.rlim_max, need);
    REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);
  }
  if (lim.rlim_cur < need) {
    MESSAGE("skipped: the hard RLIMIT_NOFILE " << lim.rlim_max << " is below " << need);
    return;
  }
  for_each_workers(
      [] {
        net::ListenOptions opts;
        opts.backlog = 4096;
        auto listener = TcpListener::bind("127.0.0.1:0", opts);
        const auto addr = listener.local_addr();
        std::atomic<int> finished{0};
        bool all_open = false;

        auto server = weft::spawn([&] {
          std::vector<TcpStream> conns;
          conns.reserve(kClients);
          for (int i = 0; i < kClients; ++i) conns.push_back(listener.accept(30s).stream);
          // Every connection is open here at once: no client can finish
          // before its "go".
          all_open = std::all_of(conns.begin(), conns.end(), [](const TcpStream& s) { return s.is_open(); }) &&
                     finished.load() == 0;
          std::vector<weft::JoinHandle<std::size_t>> handlers;
          handlers.reserve(kClients);
          for (auto& c : conns) {
            handlers.push_back(weft::spawn([s = std::move(c)]() mutable {
              s.write_all("g", 1, kWait);
              char buf[512];
              std::size_t total = 0;
              for (;;) {
                std::size_t n = s.read_some(buf, sizeof buf, kWait);
                if (n == 0) return total;
                s.write_all(buf, n, kWait);
                total += n;
              }
            }));
          }
          std::size_t sum = 0;
          for (auto& h : handlers) sum += h.join();
          return sum;
        });

        std::vector<weft::JoinHandle<std::size_t>> clients;
        clients.reserve(kClients);
        for (int i = 0; i < kClients; ++i) {
          clients.push_back(weft::spawn([&, i] {
            auto s = TcpStream::connect(addr, 30s);
            char go;
            s.read_exact(&go, 1, 30s);
            std::size_t sent = 0;
            for (int r = 0; r < kRounds; ++r) {
              std::string m = message(i, r), back(m.size(), '\0');
              s.write_all(m.data(), m.size(), kWait);
              s.read_exact(back.data(), back.size(), kWait);
              if (back != m) return std::size_t{0};
              sent += m.size();
            }
            s.shutdown(net::Shutdown::write);
            char c;
            if (s.read_some(&c, 1, kWait) != 0) return std::size_t{0};
            ++finished;
            return sent;
          }));
        }
        std::size_t expected = 0, total = 0;
        for (int i = 0; i < kClients; ++i) {
          for (int r = 0; r < kRounds; ++r) expected += message(i, r).size();
        }
        int bad = 0;
        for (auto& c : clients) {
          std::size_t n = c.join();
          total += n;
          bad += n == 0;
        }
        CHECK(bad == 0);
        CHECK(total == expected);
        CHECK(server.join() == expected);
        CHECK(all_open);
      },
      300'000ms, 40'000ms);  // deadlines of 30 s are cancelled here
}
