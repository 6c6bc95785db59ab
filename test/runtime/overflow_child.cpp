// overflow_child: a program that overflows a fiber's stack on purpose, run by
// rt_overflow so that the crash happens in a process of its own.
//
//   overflow_child <always|automatic|never> <config-stack-bytes> <spawn-stack-bytes>
//                  <fiber-name> <workers> [null]
//
// spawn-stack-bytes 0 leaves the fiber on the runtime's default stack size.
//
// It must die (SIGSEGV, SIGABRT...) with a message on stderr that names the
// fiber and its stack size. Exit code 0 or 3 means it did not crash. With
// "null" the fiber writes through a null pointer instead: an ordinary crash
// that must not be reported as an overflow.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <weft/weft.hpp>

namespace {

// The bound is read at run time so the compiler cannot see an infinite
// recursion; no stack holds 2^31 frames of 256 bytes.
volatile int g_depth_limit = 0x7fffffff;
// Read at run time too, so the write through it is not optimised away.
volatile int* volatile g_null = nullptr;

// recurse() goes deeper until the stack runs out; the frame array and the
// use of its value after the call keep the compiler from making it a loop.
[[gnu::noinline]] int recurse(int depth) {
  volatile char frame[256];
  frame[0] = static_cast<char>(depth);
  frame[255] = static_cast<char>(depth >> 8);
  int below = depth < g_depth_limit ? recurse(depth + 1) : 0;
  return below + frame[0] + frame[255];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6 && argc != 7) {
    std::fprintf(stderr,
                 "usage: %s <always|automatic|never> <config-stack-bytes> <spawn-stack-bytes> "
                 "<fiber-name> <workers> [null]\n",
                 argv[0]);
    return 2;
  }
  weft::StackGuard guard = weft::StackGuard::automatic;
  if (std::strcmp(argv[1], "always") == 0) guard = weft::StackGuard::always;
  if (std::strcmp(argv[1], "never") == 0) guard = weft::StackGuard::never;
  std::size_t stack = std::strtoull(argv[2], nullptr, 10);
  std::size_t spawn_stack = std::strtoull(argv[3], nullptr, 10);
  unsigned workers = static_cast<unsigned>(std::strtoul(argv[5], nullptr, 10));
  const bool null_write = argc == 7 && std::strcmp(argv[6], "null") == 0;

  weft::Runtime rt(
      weft::Config{}.worker_threads(workers).stack_guard(guard).stack_size(stack));
  int r = rt.block_on([&] {
    weft::SpawnOptions opts{argv[4], spawn_stack};
    return weft::spawn(opts, [null_write] {
             if (null_write) {
               *g_null = 1;
               return static_cast<int>(*g_null);
             }
             return recurse(0);
           })
        .join();
  });
  std::fprintf(stderr, "overflow_child: the recursion returned %d\n", r);
  return 3;
}
