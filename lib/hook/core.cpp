#include "core.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>

#include <algorithm>
#include <atomic>

#include "real.hpp"

namespace weft::hook {

namespace {
std::atomic<const weft_hook_api*> g_api{nullptr};

std::int64_t tv_ns(const timeval& tv) noexcept {
  return static_cast<std::int64_t>(tv.tv_sec) * 1'000'000'000 + static_cast<std::int64_t>(tv.tv_usec) * 1000;
}

std::int64_t sock_timeout(int fd, int opt) noexcept {
  timeval tv{};
  socklen_t len = sizeof tv;
  if (getsockopt(fd, SOL_SOCKET, opt, &tv, &len) != 0) return 0;
  return tv_ns(tv);
}

std::uint32_t work_out(int fd) noexcept {
  const auto& r = real::fns();
  struct stat st;
  if (fstat(fd, &st) != 0) return 0;
  int fl = r.fcntl(fd, F_GETFL);
  if (fl < 0) return 0;
  const std::uint32_t user_nb = (fl & O_NONBLOCK) ? std::uint32_t{kUserNonblock} : 0u;
  if (S_ISSOCK(st.st_mode)) {
    int type = 0;
    socklen_t len = sizeof type;
    std::uint32_t s = kSocket | user_nb;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM) s |= kStream;
    if (!user_nb) {
      if (r.fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return kOther;
      s |= kWeNonblock;
    }
    return s;
  }
  if (S_ISFIFO(st.st_mode)) return kPipe | user_nb;
  termios t;
  if (S_ISCHR(st.st_mode) && r.ioctl(fd, TCGETS, &t) == 0) return kTty | user_nb;
  return kOther;
}

// forget_reg() drops a registration taken out of a record, if there was one.
void forget_reg(const weft_hook_reg& reg) noexcept {
  if (reg.core)
    if (const weft_hook_api* a = api()) a->forget(&reg);
}
}  // namespace

const weft_hook_api* api() noexcept { return g_api.load(std::memory_order_acquire); }

__attribute__((noinline)) int get_errno() noexcept {
  int e = errno;
  asm volatile("" : "+r"(e));
  return e;
}

__attribute__((noinline)) void set_errno(int e) noexcept {
  asm volatile("" : "+r"(e));
  errno = e;
}

std::int64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t deadline_after(std::int64_t ns) noexcept {
  if (ns <= 0) return WEFT_HOOK_NO_DEADLINE;
  std::int64_t now = now_ns();
  return ns > WEFT_HOOK_NO_DEADLINE - now ? WEFT_HOOK_NO_DEADLINE : now + ns;
}

std::uint32_t classify(int fd) noexcept {
  FdRec* r = get(fd);
  if (!r) return 0;
  std::uint32_t s = r->state.load(std::memory_order_acquire);
  if (s & kKnown) return s;
  r->acquire();
  s = r->state.load(std::memory_order_relaxed);
  if (!(s & kKnown)) {
    s = work_out(fd);
    if (s) {
      if (s & kSocket) {
        r->rcv_ns.store(sock_timeout(fd, SO_RCVTIMEO), std::memory_order_relaxed);
        r->snd_ns.store(sock_timeout(fd, SO_SNDTIMEO), std::memory_order_relaxed);
      }
      s |= kKnown;
      r->state.store(s, std::memory_order_release);
    }
  }
  r->release();
  return s;
}

void fresh_fd(int fd, std::uint32_t state, std::int64_t rcv_ns, std::int64_t snd_ns) noexcept {
  forget_reg(reset(fd));
  if (state) set_known(fd, state, rcv_ns, snd_ns);
}

void forget_fd(int fd) noexcept {
  FdRec* r = find(fd);
  if (!r) return;
  // Drop the registration before letting go of the record: fd is still open,
  // and a fiber that registered it anew in between would meet the old epoll
  // entry (EEXIST). forget() calls nothing the hook interposes.
  r->acquire();
  forget_reg(r->clear());
  r->release();
}

void drop_registration(int fd) noexcept {
  // fd is closed: a registration made after this let go of the record gets a
  // new epoll entry (or EBADF), never the old one, so forget outside the lock.
  FdRec* r = find(fd);
  if (!r) return;
  r->acquire();
  const weft_hook_reg old = r->take_reg();
  r->release();
  forget_reg(old);
}

Call begin(int fd, int dir) noexcept {
  Call c;
  c.fd = fd;
  c.fiber = fiber();
  if (c.fiber) {
    c.state = classify(fd);
    if (!(c.state & kKnown) || (c.state & (kOther | kUserNonblock))) return c;
    c.mode = (c.state & kSocket) ? Mode::retry : Mode::poll_first;
  } else {
    // A plain thread: libc's call, unless the hook made this socket
    // non-blocking for a fiber earlier; then blocking is emulated.
    c.state = state_of(fd);
    if (!(c.state & kWeNonblock) || (c.state & kUserNonblock)) return c;
    c.mode = Mode::retry;
  }
  if (c.state & kSocket) {
    FdRec* r = find(fd);
    c.deadline = deadline_after(r ? (dir == 0 ? r->rcv_ns : r->snd_ns).load(std::memory_order_relaxed) : 0);
  }
  return c;
}

static std::uint32_t epoll_events(short ev) noexcept {
  std::uint32_t e = 0;
  if (ev & (POLLIN | POLLRDNORM)) e |= EPOLLIN | EPOLLRDHUP;
  if (ev & POLLPRI) e |= EPOLLPRI;
  if (ev & (POLLOUT | POLLWRNORM)) e |= EPOLLOUT;
  return e;
}

int wait_any(void* f, const pollfd* fds, nfds_t n, std::int64_t deadline) noexcept {
  const weft_hook_api* a = api();
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return get_errno();
  for (nfds_t i = 0; i < n; ++i) {
    if (fds[i].fd < 0) continue;
    epoll_event ev{};
    ev.events = epoll_events(fds[i].events);
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[i].fd, &ev);  // what epoll cannot watch is always ready
  }
  weft_hook_reg reg{};
  int e = a->prepare(f, ep, &reg);
  if (e == 0) {
    e = a->wait(f, &reg, 0, deadline);
    a->forget(&reg);
  }
  real::fns().close(ep);
  return e;
}

bool ready_now(int fd, int dir) noexcept {
  pollfd p{fd, static_cast<short>(dir == 0 ? POLLIN : POLLOUT), 0};
  return real::fns().poll(&p, 1, 0) != 0;  // errors count as ready: the call reports them
}

int wait(const Call& c, int dir, int timeout_errno) noexcept {
  int e;
  if (c.fiber) {
    const weft_hook_api* a = api();
    FdRec* r = get(c.fd);
    if (!r) return EBADF;
    for (int attempt = 0;; ++attempt) {
      r->acquire();
      e = a->prepare(c.fiber, c.fd, &r->reg);
      weft_hook_reg reg = r->reg;
      r->release();
      if (e == 0) e = a->wait(c.fiber, &reg, dir, c.deadline);
      // EBADF: the registration went before we could wait on it. Either fd
      // was closed (report it), or a close of the descriptor that had this
      // number before dropped it late (see close()): fd is open, so register
      // again. A few times at most: each needs another such close.
      if (e != EBADF || attempt == 3 || real::fns().fcntl(c.fd, F_GETFD) == -1) break;
    }
    if (e == EBUSY) {
      // Another fiber waits in this direction (the reactor keeps one waiter
      // per direction): wait through an epoll set of our own instead.
      pollfd p{c.fd, static_cast<short>(dir == 0 ? POLLIN : POLLOUT), 0};
      e = wait_any(c.fiber, &p, 1, c.deadline);
    }
  } else {
    for (;;) {
      int ms = -1;
      if (c.deadline != WEFT_HOOK_NO_DEADLINE) {
        std::int64_t left = c.deadline - now_ns();
        if (left <= 0) return timeout_errno;
        ms = static_cast<int>(std::min<std::int64_t>((left + 999'999) / 1'000'000, 1'000'000'000));
      }
      pollfd p{c.fd, static_cast<short>(dir == 0 ? POLLIN : POLLOUT), 0};
      int n = real::fns().poll(&p, 1, ms);
      if (n > 0) return (p.revents & POLLNVAL) ? EBADF : 0;
      if (n < 0 && get_errno() != EINTR) return get_errno();
      if (n < 0) return EINTR;  // a signal interrupts a blocking call: report it
    }
  }
  if (e == ETIMEDOUT && c.deadline != WEFT_HOOK_NO_DEADLINE && now_ns() >= c.deadline) return timeout_errno;
  return e;
}

}  // namespace weft::hook

extern "C" __attribute__((visibility("default"))) void weft_hook_attach(const weft_hook_api* a) {
  if (a && a->version == WEFT_HOOK_API_VERSION && a->size >= sizeof(weft_hook_api))
    weft::hook::g_api.store(a, std::memory_order_release);
}
