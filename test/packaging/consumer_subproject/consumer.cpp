// consumer: a program built against weft from outside its source tree (as a
// Meson subproject, or through pkg-config once installed). It spawns fibers,
// joins them, runs one job on the blocking pool, and prints one result line
// that the packaging tests compare.
#include <chrono>
#include <cstdio>
#include <vector>

#include <weft/weft.hpp>

int main() {
  struct Result {
    int sum;
    int blocking;
    bool in_fiber;
  };
  const Result r = weft::run(weft::Config{}.worker_threads(2), [] {
    std::vector<weft::JoinHandle<int>> fibers;
    for (int i = 1; i <= 8; ++i) {
      fibers.push_back(weft::spawn([i] {
        weft::this_fiber::sleep_for(std::chrono::milliseconds(i));
        return i * i;
      }));
    }
    const int blocking = weft::unblock([] { return 42; });
    int sum = 0;
    for (auto& f : fibers) sum += f.join();
    return Result{sum, blocking, weft::this_fiber::in_fiber()};
  });
  std::printf("weft consumer: fibers=8 sum=%d unblock=%d in_fiber=%d\n", r.sum, r.blocking,
              r.in_fiber ? 1 : 0);
  return r.sum == 204 && r.blocking == 42 && r.in_fiber ? 0 : 1;
}
