// The example program of README.md, kept here so the test suite compiles and
// runs it: the README quotes this file from the #include on.
#include <weft/weft.hpp>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

int main() {
  // weft::run starts a runtime (one worker per core), runs the lambda in a
  // fiber, and shuts the runtime down when it returns.
  int total = weft::run([] {
    std::vector<weft::JoinHandle<int>> squares;
    for (int i = 1; i <= 4; ++i) {
      squares.push_back(weft::spawn([i] {
        weft::this_fiber::sleep_for(10ms * i);  // parks this fiber, not its thread
        return i * i;
      }));
    }
    // A call that blocks its thread goes to the blocking pool; meanwhile this
    // fiber is parked and its worker runs the others.
    int answer = weft::unblock([] {
      std::this_thread::sleep_for(20ms);
      return 12;
    });
    for (auto& s : squares) answer += s.join();  // 12 + 1 + 4 + 9 + 16
    return answer;
  });
  std::printf("total = %d\n", total);
  return total == 42 ? 0 : 1;
}
