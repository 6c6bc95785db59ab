// Making, accepting and connecting sockets, and their timeouts. A socket made
// or accepted in a fiber is non-blocking from birth; the program's own wish
// (SOCK_NONBLOCK) is remembered, not applied.
#include <fcntl.h>
#include <sys/socket.h>

#include "core.hpp"
#include "real.hpp"

using namespace weft::hook;

namespace {
std::int64_t timeval_ns(const void* v, socklen_t len) noexcept {
  if (!v || len < static_cast<socklen_t>(sizeof(timeval))) return 0;
  const auto* tv = static_cast<const timeval*>(v);
  return static_cast<std::int64_t>(tv->tv_sec) * 1'000'000'000 + static_cast<std::int64_t>(tv->tv_usec) * 1000;
}

// SO_RCVTIMEO_NEW/SO_SNDTIMEO_NEW (66/67) take the same 64-bit layout here.
bool is_rcvtimeo(int opt) noexcept { return opt == SO_RCVTIMEO || opt == 66; }
bool is_sndtimeo(int opt) noexcept { return opt == SO_SNDTIMEO || opt == 67; }

int accept_impl(int fd, sockaddr* addr, socklen_t* len, int flags) noexcept {
  const auto& r = real::fns();
  Call c = begin(fd, 0);
  if (c.mode == Mode::libc) {
    int s = r.accept4(fd, addr, len, flags);
    if (s >= 0) fresh_fd(s, (flags & SOCK_NONBLOCK) ? std::uint32_t{kSocket | kUserNonblock} : 0u);
    return s;
  }
  for (;;) {
    int s = r.accept4(fd, addr, len, flags | (c.fiber ? SOCK_NONBLOCK : 0));
    if (s >= 0) {
      if (c.fiber) {
        const std::uint32_t user_nb = (flags & SOCK_NONBLOCK) ? std::uint32_t{kUserNonblock} : std::uint32_t{kWeNonblock};
        fresh_fd(s, kSocket | (c.state & kStream) | user_nb);
      } else {
        fresh_fd(s);
      }
      return s;
    }
    int e = get_errno();
    if (e != EAGAIN && e != EWOULDBLOCK) return -1;
    if ((e = wait(c, 0))) {
      set_errno(e);
      return -1;
    }
  }
}
}  // namespace

extern "C" {

__attribute__((visibility("default"))) int socket(int domain, int type, int protocol) noexcept {
  const auto& r = real::fns();
  if (!fiber()) {
    int s = r.socket(domain, type, protocol);
    if (s >= 0) fresh_fd(s, (type & SOCK_NONBLOCK) ? std::uint32_t{kSocket | kUserNonblock} : 0u);
    return s;
  }
  int s = r.socket(domain, type | SOCK_NONBLOCK, protocol);
  if (s < 0) return s;
  const std::uint32_t user_nb = (type & SOCK_NONBLOCK) ? std::uint32_t{kUserNonblock} : std::uint32_t{kWeNonblock};
  const int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  fresh_fd(s, kSocket | user_nb | (base == SOCK_STREAM ? std::uint32_t{kStream} : 0u));
  return s;
}

__attribute__((visibility("default"))) int socketpair(int domain, int type, int protocol, int sv[2]) noexcept {
  int rc = real::fns().socketpair(domain, type, protocol, sv);
  if (rc == 0) {
    fresh_fd(sv[0]);
    fresh_fd(sv[1]);
  }
  return rc;
}

__attribute__((visibility("default"))) int accept(int fd, sockaddr* addr, socklen_t* len) {
  return accept_impl(fd, addr, len, 0);
}

__attribute__((visibility("default"))) int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  return accept_impl(fd, addr, len, flags);
}

__attribute__((visibility("default"))) int connect(int fd, const sockaddr* addr, socklen_t len) {
  const auto& r = real::fns();
  Call c = begin(fd, 1);
  if (c.mode == Mode::libc) return r.connect(fd, addr, len);
  int rc = r.connect(fd, addr, len);
  if (rc == 0) return 0;
  int e = get_errno();
  if (e == EAGAIN) {
    // A Unix socket whose listener's backlog is full: a blocking connect
    // waits for room, which no readiness event announces; retry now and then.
    for (;;) {
      const weft_hook_api* a = api();
      int w = c.fiber ? a->sleep_until(c.fiber, now_ns() + 1'000'000) : 0;
      if (!c.fiber) {
        timespec ts{0, 1'000'000};
        real::fns().nanosleep(&ts, nullptr);
      }
      if (w == ECANCELED) {
        set_errno(ECANCELED);
        return -1;
      }
      if (c.deadline != WEFT_HOOK_NO_DEADLINE && now_ns() >= c.deadline) {
        set_errno(EINPROGRESS);
        return -1;
      }
      rc = r.connect(fd, addr, len);
      if (rc == 0) return 0;
      e = get_errno();
      if (e != EAGAIN) break;
    }
  }
  if (e != EINPROGRESS) {
    set_errno(e);
    return -1;
  }
  // In progress: a blocking connect waits for the outcome (SO_SNDTIMEO
  // bounds it, and its expiry leaves it in progress, as on Linux). A wake-up
  // may come for nothing (a registration that a close of the descriptor that
  // had this number before dropped late): done only once writable or failed.
  do {
    if ((e = wait(c, 1, EINPROGRESS))) {
      set_errno(e);
      return -1;
    }
  } while (!ready_now(fd, 1));
  int err = 0;
  socklen_t elen = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) return -1;
  if (err) {
    set_errno(err);
    return -1;
  }
  // Linux finishes a non-blocking connect's bookkeeping on the next connect
  // call; make it now, so that the program's own next call sees EISCONN.
  r.connect(fd, addr, len);
  return 0;
}

__attribute__((visibility("default"))) int setsockopt(int fd, int level, int opt, const void* val,
                                                      socklen_t len) noexcept {
  int rc = real::fns().setsockopt(fd, level, opt, val, len);
  if (rc == 0 && level == SOL_SOCKET && (is_rcvtimeo(opt) || is_sndtimeo(opt))) {
    // Record it even for a descriptor not yet classified: classify() reads
    // the kernel's copy then, so either way the fiber honours it.
    if (FdRec* rec = get(fd)) {
      auto& slot = is_rcvtimeo(opt) ? rec->rcv_ns : rec->snd_ns;
      slot.store(timeval_ns(val, len), std::memory_order_relaxed);
    }
  }
  return rc;
}

}  // extern "C"
