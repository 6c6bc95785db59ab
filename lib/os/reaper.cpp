// The reaper thread. A Child dropped while its process runs cannot reap it on
// the spot, and a job on a runtime's blocking pool would hold that pool (and
// its shutdown) hostage for as long as the child lives. So one process-wide
// thread takes such orphans: it polls their pidfds (or, without pidfds, wakes
// every 50 ms) plus an eventfd that announces new orphans, reaps the ones
// that exited with waitpid(pid, WNOHANG), and ends when none is left. Its
// state is never destroyed, so the detached thread may run past main().
#include "reaper.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "../log.hpp"
#include "signal_mask.hpp"

namespace weft::process::detail {

namespace {

struct Orphan {
  pid_t pid;
  OwnedFd pidfd;  // empty without pidfds
};

struct Reaper {
  std::mutex mu;
  std::vector<Orphan> orphans;  // guarded by mu
  bool running = false;         // a reaper thread is alive (guarded by mu)
  OwnedFd wake;                 // eventfd of the running thread (guarded by mu)
};

Reaper& reaper() {
  static Reaper* r = new Reaper;
  return *r;
}

// reap_exited_locked() reaps every orphan that has exited (or that is no
// longer ours to reap) and drops it from the list.
void reap_exited_locked(Reaper& r) noexcept {
  for (std::size_t i = 0; i < r.orphans.size();) {
    int status;
    pid_t got;
    do {
      got = ::waitpid(r.orphans[i].pid, &status, WNOHANG);
    } while (got < 0 && errno == EINTR);
    if (got == 0) {
      ++i;
      continue;
    }
    // Reaped, or ECHILD (SIGCHLD ignored, or reaped elsewhere): done with it.
    r.orphans[i] = std::move(r.orphans.back());
    r.orphans.pop_back();
  }
}

void thread_main() noexcept {
  // Process signals go to other threads; this one only waits for children.
  weft::detail::block_all_signals();
  pthread_setname_np(pthread_self(), "weft-reaper");
  Reaper& r = reaper();
  std::vector<pollfd> fds;
  for (;;) {
    int timeout = -1;
    {
      std::lock_guard<std::mutex> lk(r.mu);
      reap_exited_locked(r);
      if (r.orphans.empty()) {
        r.wake.reset();
        r.running = false;
        return;
      }
      fds.clear();
      fds.push_back({r.wake.native_handle(), POLLIN, 0});
      for (const Orphan& o : r.orphans) {
        if (o.pidfd) {
          fds.push_back({o.pidfd.native_handle(), POLLIN, 0});
        } else {
          timeout = 50;  // no pidfd to watch: poll waitpid
        }
      }
    }
    // The descriptors stay open meanwhile: only this thread removes orphans
    // (and closes their pidfds), and the eventfd lives as long as it runs.
    ::poll(fds.data(), fds.size(), timeout);
    if (fds[0].revents & POLLIN) {
      std::uint64_t n;
      [[maybe_unused]] ssize_t got = ::read(fds[0].fd, &n, sizeof n);
    }
  }
}

}  // namespace

void reap_later(pid_t pid, OwnedFd pidfd) noexcept {
  Reaper& r = reaper();
  std::lock_guard<std::mutex> lk(r.mu);
  try {
    r.orphans.push_back(Orphan{pid, std::move(pidfd)});
  } catch (...) {
    weft::detail::logger().error(
        "process: cannot record child {} for reaping; it will stay a zombie", pid);
    return;
  }
  if (r.running) {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t put = ::write(r.wake.native_handle(), &one, sizeof one);
    return;
  }
  int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) {
    weft::detail::logger().warn(
        "process: cannot start the reaper (eventfd: errno {}); child {} waits", errno, pid);
    return;
  }
  r.wake.reset(efd);
  try {
    std::thread(thread_main).detach();
    r.running = true;
  } catch (const std::exception& e) {
    r.wake.reset();
    weft::detail::logger().warn("process: cannot start the reaper ({}); child {} waits", e.what(),
                                pid);
  }
}

}  // namespace weft::process::detail
