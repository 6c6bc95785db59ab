// A fiber that overflows its stack kills the process with a message that
// names the fiber and its stack size, instead of a bare SIGSEGV.
//
// The overflow happens in overflow_child, a program of its own started with
// posix_spawn; its stderr comes back through a pipe, read with a deadline.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "support.hpp"

extern char** environ;

using namespace weft_test;

namespace {

// ChildResult is how overflow_child ended and what it wrote.
struct ChildResult {
  bool finished = false;  // it ended before the deadline
  int status = 0;         // waitpid status
  std::string output;     // stdout and stderr, interleaved
};

ChildResult run_child(const std::vector<std::string>& args, std::chrono::seconds limit) {
  ChildResult r;
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    FAIL("posix_spawn failed: " << rc);
  }
  auto deadline = Clock::now() + limit;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;  // EOF: the child (and anything it spawned) closed the pipe
    r.output.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  // The pipe closes as the child dies; its exit status follows at once.
  while (Clock::now() < deadline) {
    pid_t w = waitpid(pid, &r.status, WNOHANG);
    if (w == pid) {
      r.finished = true;
      return r;
    }
    std::this_thread::sleep_for(1ms);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &r.status, 0);
  return r;
}

// check_overflow() runs overflow_child and checks how it ended. The library
// prints "weft: fiber '<name>' overflowed its stack of <n> bytes ..." from
// its SIGSEGV handler, then lets the signal kill the process.
void check_overflow(const char* guard, std::size_t config_stack, std::size_t spawn_stack,
                    unsigned workers) {
  const char* child = std::getenv("WEFT_OVERFLOW_CHILD");
  REQUIRE_MESSAGE(child != nullptr, "WEFT_OVERFLOW_CHILD must name the overflow_child program");
  const std::string name = "deep-recursion";
  const std::size_t stack = spawn_stack ? spawn_stack : config_stack;
  ChildResult r = run_child({child, guard, std::to_string(config_stack),
                             std::to_string(spawn_stack), name, std::to_string(workers)},
                            std::chrono::seconds(30));
  INFO("child output:\n" << r.output);
  REQUIRE_MESSAGE(r.finished, "overflow_child did not die within 30 s");
  bool crashed = WIFSIGNALED(r.status);
  CHECK_MESSAGE(crashed, "overflow_child exited with status "
                             << (WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1));
  if (crashed) {
    int sig = WTERMSIG(r.status);
    CAPTURE(sig);
    CHECK((sig == SIGSEGV || sig == SIGABRT || sig == SIGBUS));
  }
  CHECK(r.output.find("'" + name + "'") != std::string::npos);
  CHECK(r.output.find(std::to_string(stack) + " bytes") != std::string::npos);
  CHECK(r.output.find("overflow") != std::string::npos);
}

}  // namespace

TEST_CASE("stack overflow with StackGuard::always names the fiber and its stack size") {
  WEFT_WORKER_SUBCASES(workers);
  // Sizes unlike any default, so their mention is ours.
  check_overflow("always", 96 * 1024, 0, workers);
  // A per-spawn size is the one reported.
  check_overflow("always", 128 * 1024, 80 * 1024, workers);
}

TEST_CASE("stack overflow with StackGuard::automatic names the fiber and its stack size") {
  // automatic guards only where the kernel installs guard regions for free
  // (MADV_GUARD_INSTALL, Linux 6.13); elsewhere an overflow is not caught.
  void* probe = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(probe != MAP_FAILED);
  constexpr int kMadvGuardInstall = 102;  // from <linux/mman.h>, missing in older headers
  bool supported = madvise(probe, 4096, kMadvGuardInstall) == 0;
  munmap(probe, 4096);
  if (!supported) {
    MESSAGE("skipped: this kernel has no MADV_GUARD_INSTALL");
    return;
  }
  WEFT_WORKER_SUBCASES(workers);
  check_overflow("automatic", 96 * 1024, 0, workers);
  check_overflow("automatic", 128 * 1024, 80 * 1024, workers);
}

TEST_CASE("an ordinary crash in a fiber is not reported as a stack overflow") {
  const char* child = std::getenv("WEFT_OVERFLOW_CHILD");
  REQUIRE(child != nullptr);
  WEFT_WORKER_SUBCASES(workers);
  ChildResult r = run_child({child, "always", std::to_string(96 * 1024), "0", "null-writer",
                             std::to_string(workers), "null"},
                            std::chrono::seconds(30));
  INFO("child output:\n" << r.output);
  REQUIRE(r.finished);
  REQUIRE(WIFSIGNALED(r.status));
  // SIGSEGV; under UndefinedBehaviorSanitizer the null store is caught first
  // and the process aborts instead.
  CHECK((WTERMSIG(r.status) == SIGSEGV || WTERMSIG(r.status) == SIGABRT));
  // The library's report says "overflowed its stack"; a sanitizer's stack
  // trace may name overflow_child.cpp, which is not a report.
  CHECK(r.output.find("overflowed its stack") == std::string::npos);
}
