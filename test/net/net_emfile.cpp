// Descriptor exhaustion in accept (DESIGN.md hazard 4): with the process out
// of descriptors the listener stays readable, so a naive accept loop spins at
// full CPU. TcpListener::accept() must sleep and retry instead, honour its
// deadline, and take the connection once a descriptor frees up.
//
// RLIMIT_NOFILE is process-wide: the limit is lowered only around the stall
// and restored by a guard, and this executable runs alone (see meson.build).
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "support.hpp"

using namespace net_test;
using net::TcpListener;
using net::TcpStream;

namespace {

// max_fd() is the highest open descriptor number.
int max_fd() {
  int hi = -1;
  DIR* dir = opendir("/proc/self/fd");
  REQUIRE(dir != nullptr);
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') hi = std::max(hi, std::atoi(e->d_name));
  }
  closedir(dir);
  return hi;
}

// Exhaustion lowers the soft descriptor limit a little above what is open
// and takes every descriptor left under it; the destructor gives them back
// and restores the limit.
class Exhaustion {
 public:
  explicit Exhaustion(int donor) {
    REQUIRE(getrlimit(RLIMIT_NOFILE, &old_) == 0);
    rlimit low = old_;
    low.rlim_cur = static_cast<rlim_t>(max_fd() + 16);
    REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
    for (;;) {
      int fd = ::dup(donor);
      if (fd < 0) {
        REQUIRE(errno == EMFILE);
        break;
      }
      held_.push_back(fd);
    }
  }
  ~Exhaustion() {
    release(held_.size());
    setrlimit(RLIMIT_NOFILE, &old_);
  }
  // release() closes n of the held descriptors.
  void release(std::size_t n) {
    for (; n > 0 && !held_.empty(); --n) {
      ::close(held_.back());
      held_.pop_back();
    }
  }
  std::size_t held() const { return held_.size(); }

 private:
  rlimit old_{};
  std::vector<int> held_;
};

}  // namespace

TEST_CASE("EMFILE in accept: no spinning, the deadline holds, and accepting resumes") {
  for_each_workers([] {
    auto listener = TcpListener::bind("127.0.0.1:0");
    // Connect first: clients need descriptors too. The kernel queues them.
    auto c1 = TcpStream::connect(listener.local_addr(), kWait);
    auto c2 = TcpStream::connect(listener.local_addr(), kWait);
    {
      Exhaustion ex(listener.native_handle());
      REQUIRE(ex.held() > 0);

      // A short deadline ends in timed_out, not EMFILE, and not early.
      std::error_code ec;
      auto t0 = Clock::now();
      auto none = listener.accept(ec, 50ms);
      CHECK(ec == std::errc::timed_out);
      CHECK(ms_since(t0) >= 50);
      CHECK_FALSE(none.stream.is_open());

      // A long wait stalls without burning CPU.
      auto acceptor = weft::spawn([&] {
        std::error_code aec;
        auto a = listener.accept(aec, kWait);
        CHECK_FALSE(aec);
        return a.stream.is_open();
      });
      const auto stall = 400ms;
      auto cpu0 = cpu_time();
      weft::this_fiber::sleep_for(stall);
      auto cpu = cpu_time() - cpu0;
      CHECK_FALSE(acceptor.is_finished());
      // A spinning loop would burn about the whole stall on one core; the
      // backoff (1 ms doubling to 100 ms) costs a few retries. The bound
      // leaves room for the runtime's own idle work on a busy machine.
      INFO("CPU over a " << stall.count() << " ms stall: " << cpu.count() << " us");
      CHECK(cpu < stall / 5);

      // Free a few descriptors: the parked accept gets one within its backoff.
      auto t1 = Clock::now();
      ex.release(4);
      CHECK(acceptor.join());
      CHECK(ms_since(t1) < 2000);
    }
    // With the limit restored the queue drains at once.
    auto second = listener.accept(kWait);
    CHECK(second.stream.is_open());
  });
}
