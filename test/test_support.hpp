// Helpers every test suite shares: a watchdog for hangs, a bounded poll for
// state that has no notification, the process's descriptor count and CPU time.
#pragma once

#include <dirent.h>
#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace test_common {

using namespace std::chrono_literals;

// cpu_time() is the process's user + system CPU time (all threads).
inline std::chrono::microseconds cpu_time() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& tv) { return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec); };
  return std::chrono::duration_cast<std::chrono::microseconds>(us(ru.ru_utime) + us(ru.ru_stime));
}

// dump_threads() prints each thread of the process with its name, state and
// where the kernel holds it (wchan, the system call and its first argument):
// enough to tell a worker parked on its futex from one blocked in epoll_wait
// or spinning, when a hang happens once in a thousand runs.
inline void dump_threads() {
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return;
  auto slurp = [](const std::string& path) {
    std::string s;
    if (std::FILE* f = std::fopen(path.c_str(), "r")) {
      char buf[256];
      std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
      std::fclose(f);
      s.assign(buf, n);
      while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
    }
    return s;
  };
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const std::string t = std::string("/proc/self/task/") + e->d_name;
    const std::string stat = slurp(t + "/stat");
    const auto close = stat.rfind(')');
    const char state = close != std::string::npos && close + 2 < stat.size() ? stat[close + 2] : '?';
    std::string sys = slurp(t + "/syscall");
    if (auto sp = sys.find(' '); sp != std::string::npos) sys = sys.substr(0, sys.find(' ', sp + 1));
    std::fprintf(stderr, "  thread %s %-16s state %c wchan %-24s syscall %s\n", e->d_name, slurp(t + "/comm").c_str(),
                 state, slurp(t + "/wchan").c_str(), sys.c_str());
  }
  closedir(dir);
}

// Watchdog aborts the process when its scope outlives a limit: a hung fiber
// (or a worker stuck in a blocking call) cannot be unwound, so naming what
// hung, and where each thread waits, beats a silent meson timeout.
class Watchdog {
 public:
  Watchdog(std::chrono::milliseconds limit, std::string what)
      : what_(std::move(what)), thread_([this, limit] { watch(limit); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  void watch(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
      std::fprintf(stderr, "watchdog: '%s' did not finish within %lld ms\n", what_.c_str(),
                   static_cast<long long>(limit.count()));
      dump_threads();
      std::fflush(stderr);
      std::abort();
    }
  }

  std::string what_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;  // guarded by mu_
  std::thread thread_;
};

// wait_until() polls pred on a plain thread until it holds or timeout
// passes; for state with no notification (RuntimeStats counters).
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(200us);
  }
  return true;
}

// fd_count() is the number of open descriptors of the process.
inline int fd_count() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return -1;
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // opendir's own descriptor
}

// live_thread_count() is the number of threads of the process that have not
// begun to exit. A joined thread keeps its /proc/self/task entry a moment
// after pthread_join returns (the kernel clears the joined tid early in its
// exit), so a plain count of that directory can run one high; every exiting
// thread already carries PF_EXITING in the flags of its stat line.
inline int live_thread_count() {
  constexpr unsigned long kPfExiting = 0x4;
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return -1;
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const std::string path = std::string("/proc/self/task/") + e->d_name + "/stat";
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (!f) continue;  // gone between readdir and open
    char buf[512];
    const std::size_t len = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[len] = '\0';
    // After the name's closing parenthesis: state ppid pgrp session tty_nr tpgid flags.
    const char* p = std::strrchr(buf, ')');
    unsigned long flags = 0;
    char state = '?';
    if (p && std::sscanf(p + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) == 2 && !(flags & kPfExiting)) ++n;
  }
  closedir(dir);
  return n;
}

}  // namespace test_common
