// preload_child: a program linked with weft but not with libweft_hook, for
// hook_preload to run under LD_PRELOAD. 100 fibers on one worker each make a
// plain blocking ::read on a socketpair; the answers are written only once
// all 100 are inside their read, which only a preloaded hook makes possible.
// Exit 0 and "preload ok" when every reader got its byte on the one worker
// thread; exit 1 with the reason otherwise.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

namespace {

constexpr int kReaders = 100;

int run_readers() {
  std::vector<int> a(kReaders), b(kReaders);
  for (int i = 0; i < kReaders; ++i) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return std::perror("socketpair"), 1;
    a[i] = sv[0];
    b[i] = sv[1];
  }
  std::atomic<int> inside{0}, right{0};
  std::mutex mu;
  std::set<std::thread::id> threads;
  int all_inside = weft::run(weft::Config{}.worker_threads(1), [&] {
    std::vector<weft::JoinHandle<void>> readers;
    for (int i = 0; i < kReaders; ++i) {
      readers.push_back(weft::spawn([&, i] {
        char c = 0;
        inside.fetch_add(1);
        if (::read(a[i], &c, 1) == 1 && c == 'p') right.fetch_add(1);
        std::lock_guard<std::mutex> g(mu);
        threads.insert(std::this_thread::get_id());
      }));
    }
    // Bounded: without the hook the readers never all get in.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (inside.load() < kReaders && std::chrono::steady_clock::now() < deadline) weft::this_fiber::yield();
    int seen = inside.load();
    for (int i = 0; i < kReaders; ++i) (void)!::write(b[i], "p", 1);
    for (auto& r : readers) r.join();
    return seen;
  });
  for (int i = 0; i < kReaders; ++i) {
    ::close(a[i]);
    ::close(b[i]);
  }
  if (all_inside != kReaders) return std::printf("only %d of %d readers got into read()\n", all_inside, kReaders), 1;
  if (right.load() != kReaders) return std::printf("only %d of %d readers got their byte\n", right.load(), kReaders), 1;
  if (threads.size() != 1) return std::printf("readers resumed on %zu threads, want 1\n", threads.size()), 1;
  std::printf("preload ok: %d readers parked on one worker\n", kReaders);
  return 0;
}

}  // namespace

int main() {
  int rc = run_readers();
  std::fflush(stdout);
  return rc;
}
