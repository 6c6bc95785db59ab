// libweft_hook through LD_PRELOAD: preload_child, a program linked with weft
// but not with the hook, runs 100 fibers in plain blocking reads on one
// worker. With the hook preloaded they all park and it succeeds; without it
// the same program cannot get them all into read(), which shows the test
// tells the two apart.
//
// The child is started with posix_spawn; its output comes back through a
// pipe, read with a deadline. WEFT_PRELOAD_CHILD and WEFT_HOOK_LIB name the
// two files (set by meson.build).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "support.hpp"

extern char** environ;

using namespace hook_test;

namespace {

// ChildResult is how the child ended and what it wrote.
struct ChildResult {
  bool finished = false;  // it ended before the deadline
  int status = 0;         // waitpid status
  std::string output;     // stdout and stderr, interleaved
};

// child_env() is this process's environment with LD_PRELOAD set to preload
// (or removed when empty). Under AddressSanitizer the preloaded library comes
// before the sanitizer runtime, which it would refuse to start with.
std::vector<std::string> child_env(const std::string& preload) {
  std::vector<std::string> env;
  bool asan = false;
  for (char** e = environ; *e; ++e) {
    std::string v(*e);
    if (v.rfind("LD_PRELOAD=", 0) == 0) continue;
    if (v.rfind("ASAN_OPTIONS=", 0) == 0) {
      v += ":verify_asan_link_order=0";
      asan = true;
    }
    env.push_back(v);
  }
  if (!asan) env.push_back("ASAN_OPTIONS=verify_asan_link_order=0");
  if (!preload.empty()) env.push_back("LD_PRELOAD=" + preload);
  return env;
}

ChildResult run_child(const std::string& path, const std::string& preload, std::chrono::seconds limit) {
  ChildResult r;
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  std::vector<std::string> env = child_env(preload);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    FAIL("posix_spawn failed: " << rc);
  }
  auto deadline = Clock::now() + limit;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;  // EOF: the child closed its output
    r.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  while (Clock::now() < deadline) {
    if (::waitpid(pid, &r.status, WNOHANG) == pid) {
      r.finished = true;
      return r;
    }
    std::this_thread::sleep_for(1ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &r.status, 0);
  return r;
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

TEST_CASE("a program linked only with weft parks its blocking reads under LD_PRELOAD") {
  const std::string child = env_or_empty("WEFT_PRELOAD_CHILD");
  const std::string hook = env_or_empty("WEFT_HOOK_LIB");
  REQUIRE_MESSAGE(!child.empty(), "WEFT_PRELOAD_CHILD is not set");
  REQUIRE_MESSAGE(!hook.empty(), "WEFT_HOOK_LIB is not set");

  ChildResult with = run_child(child, hook, 60s);
  INFO("child output: " << with.output);
  REQUIRE(with.finished);
  CHECK(WIFEXITED(with.status));
  CHECK(WEXITSTATUS(with.status) == 0);
  CHECK(with.output.find("preload ok") != std::string::npos);
}

TEST_CASE("without the hook the same program cannot park its readers") {
  const std::string child = env_or_empty("WEFT_PRELOAD_CHILD");
  REQUIRE_MESSAGE(!child.empty(), "WEFT_PRELOAD_CHILD is not set");
  // It either reports that the readers did not all get in, or hangs with
  // its only worker stuck in read() until the deadline kills it.
  ChildResult without = run_child(child, "", 20s);
  INFO("child output: " << without.output);
  CHECK(without.output.find("preload ok") == std::string::npos);
  CHECK_FALSE((without.finished && WIFEXITED(without.status) && WEXITSTATUS(without.status) == 0));
}
