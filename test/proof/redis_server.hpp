// RedisServer runs a private redis-server for one test case: on a free
// loopback port, in a fresh directory, without persistence, its output in a
// log that is shown when it fails to start. Construction returns once the
// server answers PING; destruction kills and reaps it, so a failing case
// leaves no server behind. Used from the main thread, outside any runtime.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

namespace proof {

// PROOF_REDIS_SERVER is the path of the redis-server that meson found.
#ifndef PROOF_REDIS_SERVER
#define PROOF_REDIS_SERVER "/usr/bin/redis-server"
#endif

class RedisServer {
 public:
  // RedisServer() starts the server, waiting at most ready_within for it to
  // answer; throws std::runtime_error (with the server's log) if it does not.
  explicit RedisServer(std::chrono::milliseconds ready_within = std::chrono::seconds(10)) {
    // A server that dies mid-test must fail the case with EPIPE, not kill the
    // whole test binary with SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
    // The free port is only free when probed; another process may take it
    // before redis binds it, so a bind failure gets a fresh port.
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      port_ = free_port();
      child_.start(port_, dir_.path, log_path());
      if (wait_ready(ready_within)) return;
      child_.stop();
      if (log().find("Address already in use") == std::string::npos) break;
    }
    throw std::runtime_error("redis-server did not start; its log:\n" + log());
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // port() is the loopback port the server listens on.
  int port() const noexcept { return port_; }

  // log() is what the server printed so far.
  std::string log() const {
    std::ifstream in(log_path());
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }

 private:
  static constexpr int kAttempts = 5;

  // TempDir is a fresh directory, removed with all it holds.
  struct TempDir {
    TempDir() {
      std::string tmpl = (std::filesystem::temp_directory_path() / "weft-proof-XXXXXX").string();
      if (!mkdtemp(tmpl.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp");
      path = tmpl;
    }
    ~TempDir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
    std::string path;
  };

  // Child is the server process; stop() kills and reaps it.
  struct Child {
    // start() forks and execs the server. The child asks for SIGKILL when
    // the test dies: a watchdog abort skips destructors, and must not leave
    // a server behind. Between fork and exec only async-signal-safe calls.
    void start(int port, const std::string& dir, const std::string& log) {
      std::string port_s = std::to_string(port);
      const char* argv[] = {PROOF_REDIS_SERVER, "--port",       port_s.c_str(),
                            "--bind",           "127.0.0.1",    "--save",
                            "",                 "--appendonly", "no",
                            "--daemonize",      "no",           "--dir",
                            dir.c_str(),        nullptr};
      const pid_t parent = getpid();
      pid = fork();
      if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
      if (pid > 0) return;
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(126);
      int in = open("/dev/null", O_RDONLY);
      int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(126);
      execv(PROOF_REDIS_SERVER, const_cast<char* const*>(argv));
      const char msg[] = "exec " PROOF_REDIS_SERVER " failed\n";
      (void)!write(2, msg, sizeof(msg) - 1);
      _exit(127);
    }
    // exited() reaps the server if it has exited on its own.
    bool exited() {
      if (pid > 0 && waitpid(pid, nullptr, WNOHANG) == pid) pid = -1;
      return pid <= 0;
    }
    void stop() noexcept {
      if (pid <= 0) return;
      kill(pid, SIGKILL);
      while (waitpid(pid, nullptr, 0) == -1 && errno == EINTR) {
      }
      pid = -1;
    }
    ~Child() { stop(); }
    pid_t pid = -1;
  };

  std::string log_path() const { return dir_.path + "/redis.log"; }

  // free_port() is a loopback port nobody listened on a moment ago.
  static int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      int e = errno;
      close(fd);
      throw std::system_error(e, std::generic_category(), "bind 127.0.0.1:0");
    }
    close(fd);
    return ntohs(a.sin_port);
  }

  // wait_ready() polls until our child answers PING (a condition, not a
  // guess at a delay), or it exits, or within passes.
  bool wait_ready(std::chrono::milliseconds within) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      if (child_.exited()) return false;
      if (answers_ping()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  // answers_ping() is true when the server on port_ is our child (so a
  // stranger that took the port is not mistaken for it) and answers PING.
  bool answers_ping() const {
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, timeval{0, 200'000});
    bool ok = false;
    if (c && !c->err) {
      auto* pong = static_cast<redisReply*>(redisCommand(c, "PING"));
      auto* info = static_cast<redisReply*>(redisCommand(c, "INFO server"));
      ok = pong && pong->type == REDIS_REPLY_STATUS && std::string(pong->str) == "PONG" && info &&
           info->type == REDIS_REPLY_STRING &&
           std::string(info->str).find("process_id:" + std::to_string(child_.pid) + "\r") !=
               std::string::npos;
      if (pong) freeReplyObject(pong);
      if (info) freeReplyObject(info);
    }
    if (c) redisFree(c);
    return ok;
  }

  TempDir dir_;   // the server's working directory and log
  Child child_;   // declared after dir_: killed before its directory goes
  int port_ = 0;  // the port of the running server
};

}  // namespace proof
