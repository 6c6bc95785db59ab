// poll and select in a fiber: look once without blocking; if nothing is ready
// park until something is (one descriptor: the reactor directly; several: an
// epoll set of their own, registered with the reactor) or the timeout passes.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>

#include <climits>
#include <vector>

#include "core.hpp"
#include "real.hpp"

using namespace weft::hook;

namespace {
std::int64_t ms_deadline(int timeout_ms) noexcept {
  return timeout_ms < 0 ? WEFT_HOOK_NO_DEADLINE : now_ns() + static_cast<std::int64_t>(timeout_ms) * 1'000'000;
}

// park_for_any() parks until one of fds may be ready, or the deadline. 0 to
// look again, or an errno (ETIMEDOUT when the deadline passed).
int park_for_any(void* f, const pollfd* fds, nfds_t n, std::int64_t deadline) noexcept {
  if (n == 1 && fds[0].fd >= 0) {
    const short ev = fds[0].events;
    const bool in = ev & (POLLIN | POLLRDNORM), out = ev & (POLLOUT | POLLWRNORM);
    if (in != out && !(ev & POLLPRI)) {
      Call c;
      c.fiber = f;
      c.fd = fds[0].fd;
      c.deadline = deadline;
      int e = wait(c, in ? 0 : 1, ETIMEDOUT);
      if (e != EPERM) return e;
    }
  }
  return wait_any(f, fds, n, deadline);
}

int poll_in_fiber(void* f, pollfd* fds, nfds_t n, int timeout_ms) noexcept {
  const auto& r = real::fns();
  const std::int64_t deadline = ms_deadline(timeout_ms);
  for (;;) {
    int got = r.poll(fds, n, 0);
    if (got != 0 || timeout_ms == 0) return got;
    if (deadline != WEFT_HOOK_NO_DEADLINE && now_ns() >= deadline) return 0;
    int e = n == 0 ? api()->sleep_until(f, deadline) : park_for_any(f, fds, n, deadline);
    if (e == 0 && n == 0) return 0;
    if (e == ETIMEDOUT) {
      if (deadline != WEFT_HOOK_NO_DEADLINE && now_ns() >= deadline) return r.poll(fds, n, 0);
      set_errno(ETIMEDOUT);  // a weft deadline scope ended the wait
      return -1;
    }
    if (e && e != EBADF) {  // EBADF: a descriptor closed meanwhile; poll says which
      set_errno(e);
      return -1;
    }
  }
}
}  // namespace

extern "C" {

__attribute__((visibility("default"))) int poll(pollfd* fds, nfds_t n, int timeout_ms) {
  void* f = fiber();
  if (!f || timeout_ms == 0) return real::fns().poll(fds, n, timeout_ms);
  return poll_in_fiber(f, fds, n, timeout_ms);
}

__attribute__((visibility("default"))) int __poll_chk(pollfd* fds, nfds_t n, int timeout_ms, size_t fdslen) {
  if (fdslen / sizeof(*fds) < n) __builtin_trap();
  return poll(fds, n, timeout_ms);
}

__attribute__((visibility("default"))) int select(int nfds, fd_set* rd, fd_set* wr, fd_set* ex, timeval* tv) {
  void* f = fiber();
  if (!f || (tv && tv->tv_sec == 0 && tv->tv_usec == 0) || nfds < 0 || nfds > FD_SETSIZE)
    return real::fns().select(nfds, rd, wr, ex, tv);
  std::vector<pollfd> p;
  for (int fd = 0; fd < nfds; ++fd) {
    short ev = 0;
    if (rd && FD_ISSET(fd, rd)) ev |= POLLIN;
    if (wr && FD_ISSET(fd, wr)) ev |= POLLOUT;
    if (ex && FD_ISSET(fd, ex)) ev |= POLLPRI;
    if (ev) p.push_back(pollfd{fd, ev, 0});
  }
  int timeout_ms = -1;
  std::int64_t start = now_ns();
  if (tv) {
    if (tv->tv_sec < 0 || tv->tv_usec < 0) {
      set_errno(EINVAL);
      return -1;
    }
    long long ms = static_cast<long long>(tv->tv_sec) * 1000 + (tv->tv_usec + 999) / 1000;
    timeout_ms = ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
  }
  int got = poll_in_fiber(f, p.data(), p.size(), timeout_ms);
  if (got < 0) return -1;
  for (const pollfd& q : p)
    if (q.revents & POLLNVAL) {
      set_errno(EBADF);
      return -1;
    }
  if (rd) FD_ZERO(rd);
  if (wr) FD_ZERO(wr);
  if (ex) FD_ZERO(ex);
  int count = 0;
  for (const pollfd& q : p) {
    if (rd && (q.events & POLLIN) && (q.revents & (POLLIN | POLLHUP | POLLERR))) FD_SET(q.fd, rd), ++count;
    if (wr && (q.events & POLLOUT) && (q.revents & (POLLOUT | POLLERR))) FD_SET(q.fd, wr), ++count;
    if (ex && (q.events & POLLPRI) && (q.revents & POLLPRI)) FD_SET(q.fd, ex), ++count;
  }
  if (tv) {
    // Linux's select leaves the time not slept in *tv.
    std::int64_t total = static_cast<std::int64_t>(tv->tv_sec) * 1'000'000'000 + tv->tv_usec * 1000LL;
    std::int64_t left = total - (now_ns() - start);
    if (left < 0) left = 0;
    tv->tv_sec = left / 1'000'000'000;
    tv->tv_usec = (left % 1'000'000'000) / 1000;
  }
  return count;
}

}  // extern "C"
