// Descriptor bookkeeping: close drops the reactor registration first (a
// closed descriptor must not linger in the epoll set through a dup), dups
// copy what is known, and fcntl/ioctl keep the program's view of O_NONBLOCK
// apart from the hook's.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdarg>

#include "core.hpp"
#include "real.hpp"

using namespace weft::hook;

namespace {
// copy_state() gives a new descriptor what the hook knew of the one it
// duplicates (they share the open file, so flags and timeouts are shared).
void copy_state(int from, int to) noexcept {
  FdRec* r = find(from);
  std::uint32_t s = r ? r->state.load(std::memory_order_acquire) : 0;
  if (s & kKnown)
    fresh_fd(to, s, r->rcv_ns.load(std::memory_order_relaxed), r->snd_ns.load(std::memory_order_relaxed));
  else
    fresh_fd(to);
}

// set_user_nonblock() records the program's O_NONBLOCK wish for a socket the
// hook manages, and says whether the kernel flag must stay on regardless.
bool set_user_nonblock(int fd, bool on) noexcept {
  FdRec* r = find(fd);
  if (!r) return false;
  std::uint32_t s = r->state.load(std::memory_order_acquire);
  if (!(s & kKnown)) return false;
  std::uint32_t ns = s & ~(kUserNonblock | kWeNonblock);
  if (on) ns |= kUserNonblock;
  else if (s & kSocket) ns |= kWeNonblock;
  r->state.store(ns, std::memory_order_release);
  return (s & kSocket) != 0;
}

int fcntl_impl(int (*real_fcntl)(int, int, ...), int fd, int cmd, void* arg) noexcept {
  switch (cmd) {
    case F_GETFL: {
      int fl = real_fcntl(fd, cmd);
      if (fl >= 0 && (state_of(fd) & (kKnown | kWeNonblock)) == (kKnown | kWeNonblock)) fl &= ~O_NONBLOCK;
      return fl;
    }
    case F_SETFL: {
      int fl = static_cast<int>(reinterpret_cast<intptr_t>(arg));
      const bool keep_on = set_user_nonblock(fd, fl & O_NONBLOCK);
      return real_fcntl(fd, cmd, keep_on ? fl | O_NONBLOCK : fl);
    }
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      int nfd = real_fcntl(fd, cmd, arg);
      if (nfd >= 0) copy_state(fd, nfd);
      return nfd;
    }
    default:
      return real_fcntl(fd, cmd, arg);
  }
}
}  // namespace

extern "C" {

__attribute__((visibility("default"))) int close(int fd) {
  forget_fd(fd);
  int rc = real::fns().close(fd);
  // Again after: a fiber of another thread may have registered fd between
  // the first forget and the close, and a closed descriptor sends epoll no
  // event, so only this wakes that fiber (its retry reports EBADF). Should
  // the number already belong to a new descriptor, its waiter wakes once for
  // nothing and registers again; what is known of it stays.
  const int saved = get_errno();
  drop_registration(fd);
  set_errno(saved);
  return rc;
}

__attribute__((visibility("default"))) int dup(int fd) noexcept {
  int nfd = real::fns().dup(fd);
  if (nfd >= 0) copy_state(fd, nfd);
  return nfd;
}

__attribute__((visibility("default"))) int dup2(int fd, int to) noexcept {
  if (fd != to) forget_fd(to);  // dup2 closes `to` first
  int nfd = real::fns().dup2(fd, to);
  if (nfd >= 0 && fd != to) copy_state(fd, nfd);
  return nfd;
}

__attribute__((visibility("default"))) int dup3(int fd, int to, int flags) noexcept {
  if (fd != to) forget_fd(to);
  int nfd = real::fns().dup3(fd, to, flags);
  if (nfd >= 0) copy_state(fd, nfd);
  return nfd;
}

__attribute__((visibility("default"))) int pipe(int fds[2]) noexcept {
  int rc = real::fns().pipe(fds);
  if (rc == 0) {
    fresh_fd(fds[0]);
    fresh_fd(fds[1]);
  }
  return rc;
}

__attribute__((visibility("default"))) int pipe2(int fds[2], int flags) noexcept {
  int rc = real::fns().pipe2(fds, flags);
  if (rc == 0) {
    fresh_fd(fds[0]);
    fresh_fd(fds[1]);
  }
  return rc;
}

__attribute__((visibility("default"))) int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);  // as glibc: every argument fits a pointer
  va_end(ap);
  return fcntl_impl(real::fns().fcntl, fd, cmd, arg);
}

__attribute__((visibility("default"))) int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  return fcntl_impl(real::fns().fcntl64, fd, cmd, arg);
}

__attribute__((visibility("default"))) int ioctl(int fd, unsigned long req, ...) noexcept {
  va_list ap;
  va_start(ap, req);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (req == FIONBIO && arg) {
    const bool on = *static_cast<int*>(arg) != 0;
    if (set_user_nonblock(fd, on) && !on) return 0;  // the hook keeps it on
  }
  return real::fns().ioctl(fd, req, arg);
}

}  // extern "C"
