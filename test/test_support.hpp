// Helpers every test suite shares: a watchdog for hangs, bounded polls (from a
// thread or a fiber) for state that has no notification, the process's
// descriptor count and CPU time, the code a failing call throws, and a
// scratch directory.
#pragma once

#include <dirent.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <weft/runtime.hpp>
#include <weft/this_fiber.hpp>

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

// fiber_wait_until() is wait_until() for code running in a fiber: it yields
// between looks, so the fibers it waits for can run on its own worker.
template <class Pred>
bool fiber_wait_until(Pred pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    weft::this_fiber::yield();
  }
  return true;
}

// parked_with_deadline() yields until rt has at least n more deadlines filed
// than `base`: fibers that wait with a deadline file theirs just before they
// park, so a trigger sent after this finds them parked, or about to be with
// their wait published. Bounded by 10 s; false if it never happened.
inline bool parked_with_deadline(weft::Runtime& rt, std::size_t base, std::size_t n = 1) {
  return fiber_wait_until([&] { return rt.stats().pending_timers >= base + n; }, 10s);
}

// thrown_code() runs f and returns the code of the std::system_error it
// throws; an empty code if it returns.
template <class F>
std::error_code thrown_code(F&& f) {
  try {
    f();
  } catch (const std::system_error& e) {
    return e.code();
  }
  return {};
}

// ScratchDir is a fresh directory under TMPDIR (or /tmp), removed at the end.
class ScratchDir {
 public:
  ScratchDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/weft-test-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

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

// task_stat() reads the state letter ('R' running, 'S' asleep in the kernel,
// as on a futex) and the flags of thread `tid` of this process from its
// /proc stat line; false when the thread is gone.
inline bool task_stat(const std::string& tid, char& state, unsigned long& flags) {
  const std::string path = "/proc/self/task/" + tid + "/stat";
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return false;
  char buf[512];
  const std::size_t len = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[len] = '\0';
  // After the name's closing parenthesis (the name may hold spaces): state
  // ppid pgrp session tty_nr tpgid flags.
  const char* p = std::strrchr(buf, ')');
  return p && std::sscanf(p + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) == 2;
}

// thread_state() is the state letter of thread tid of this process, or '?'.
inline char thread_state(long tid) {
  char state = '?';
  unsigned long flags = 0;
  return task_stat(std::to_string(tid), state, flags) ? state : '?';
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
    char state = '?';
    unsigned long flags = 0;
    if (task_stat(e->d_name, state, flags) && !(flags & kPfExiting)) ++n;  // false: gone since readdir
  }
  closedir(dir);
  return n;
}

// usable_cpus() counts the CPUs the calling thread may run on (a runtime
// built on it plans with the same set).
inline unsigned usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return static_cast<unsigned>(CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// thread_ids_named() lists the threads of this process called `name`.
inline std::vector<long> thread_ids_named(const std::string& name) {
  std::vector<long> tids;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(e.path() / "comm");
    std::string comm;
    if (std::getline(in, comm) && comm == name) tids.push_back(std::stol(e.path().filename().string()));
  }
  return tids;
}

// threads_named() counts the live threads of this process called `name`.
inline int threads_named(const std::string& name) { return static_cast<int>(thread_ids_named(name).size()); }

}  // namespace test_common
