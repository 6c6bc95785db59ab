// ctrl_c: one fiber waits for Ctrl-C (SIGINT) or SIGTERM while others work;
// when it arrives it prints which signal came and what the workers got done,
// stops them, and the program exits 0.
//
// usage: ctrl_c [--self-signal]
//   --self-signal  send SIGINT to itself after a moment, as a test would
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include <weft/weft.hpp>

namespace {

using namespace std::chrono_literals;

// work() is one worker fiber: a slice of computation, then a short sleep,
// until told to stop. It returns how many slices it did.
long work(const std::atomic<bool>& stop) {
  long slices = 0;
  std::uint64_t x = 1;
  while (!stop.load(std::memory_order_relaxed)) {
    for (int i = 0; i < 100000; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    ++slices;
    weft::this_fiber::sleep_for(10ms);
  }
  return x == 0 ? -1 : slices;  // uses x, so the loop is not optimised away
}

}  // namespace

int main(int argc, char** argv) {
  bool self_signal = false;
  if (argc == 2 && std::strcmp(argv[1], "--self-signal") == 0) {
    self_signal = true;
  } else if (argc != 1) {
    std::fprintf(stderr, "usage: ctrl_c [--self-signal]\n");
    return 2;
  }

  // Block the signals before any thread starts, so that every thread the
  // runtime makes inherits the mask and only the signalfd sees them.
  weft::block_signals({SIGINT, SIGTERM});

  return weft::run(weft::Config{}.worker_threads(2), [&] {
    // Made in the fiber that waits on it: a Signals (like every Async) is
    // tied to the runtime it first waits in and must not outlive it.
    weft::Signals signals{SIGINT, SIGTERM};

    std::atomic<bool> stop{false};
    std::vector<weft::JoinHandle<long>> workers;
    for (int i = 0; i < 4; ++i) workers.push_back(weft::spawn([&] { return work(stop); }));

    if (self_signal) {
      weft::spawn([] {
        weft::this_fiber::sleep_for(300ms);
        ::kill(::getpid(), SIGINT);
      }).detach();
    }

    std::printf("ctrl_c: %zu fibers at work; press Ctrl-C to stop\n", workers.size());
    std::fflush(stdout);
    const auto t0 = std::chrono::steady_clock::now();
    const int sig = signals.wait();
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t0);

    stop = true;
    long slices = 0;
    for (auto& w : workers) slices += w.join();
    std::printf("ctrl_c: got %s after %lld ms; the workers did %ld slices of work\n",
                weft::signal_name(sig).c_str(), static_cast<long long>(waited.count()), slices);
    return 0;
  });
}
