// read/write and their socket cousins. In a fiber (or on a plain thread, for
// a socket the hook made non-blocking) a call that would block waits for
// readiness and tries again; the program sees libc's blocking semantics.
#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>

#include <cstring>
#include <vector>

#include "core.hpp"
#include "real.hpp"

namespace weft::hook {
namespace {

// one_shot() runs op until it stops failing with EAGAIN: a read, or a write
// on a datagram socket, pipe or tty (libc's blocking write to a pipe may also
// stop short; a stream socket's does not — see write_all()).
template <class Op>
ssize_t one_shot(const Call& c, int dir, Op op) noexcept {
  for (;;) {
    if (c.mode == Mode::poll_first && !ready_now(c.fd, dir)) {
      if (int e = wait(c, dir)) {
        set_errno(e);
        return -1;
      }
      continue;
    }
    ssize_t n = op();
    if (n >= 0) return n;
    int e = get_errno();
    if (e != EAGAIN && e != EWOULDBLOCK) return -1;
    if (c.mode == Mode::poll_first) continue;  // someone else took the data
    if ((e = wait(c, dir))) {
      set_errno(e);
      return -1;
    }
  }
}

// IovCursor walks an iovec array as bytes are consumed, on a private copy.
class IovCursor {
 public:
  IovCursor(const iovec* iov, int n) : v_(iov, iov + (n > 0 ? n : 0)) {}
  iovec* data() noexcept { return v_.data() + first_; }
  int count() const noexcept { return static_cast<int>(v_.size() - first_); }
  void advance(size_t n) noexcept {
    while (n && first_ < v_.size()) {
      size_t take = std::min(n, v_[first_].iov_len);
      v_[first_].iov_base = static_cast<char*>(v_[first_].iov_base) + take;
      v_[first_].iov_len -= take;
      n -= take;
      if (v_[first_].iov_len == 0) ++first_;
    }
    while (first_ < v_.size() && v_[first_].iov_len == 0) ++first_;
  }

 private:
  std::vector<iovec> v_;
  size_t first_ = 0;
};

size_t iov_total(const iovec* iov, int n) noexcept {
  size_t t = 0;
  for (int i = 0; i < n; ++i) t += iov[i].iov_len;
  return t;
}

// write_all() sends everything on a stream socket, as a blocking send does,
// and returns what went out if an error or the timeout cuts it short.
template <class Op>
ssize_t write_all(const Call& c, size_t total, Op op) noexcept {
  size_t done = 0;
  for (;;) {
    ssize_t n = op(done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      if (done >= total) return static_cast<ssize_t>(done);
      continue;
    }
    int e = n < 0 ? get_errno() : EAGAIN;
    if (n < 0 && e != EAGAIN && e != EWOULDBLOCK) {
      if (done) return static_cast<ssize_t>(done);
      set_errno(e);
      return -1;
    }
    if ((e = wait(c, 1))) {
      if (done) return static_cast<ssize_t>(done);
      set_errno(e);
      return -1;
    }
  }
}

bool stream_write(const Call& c) noexcept { return c.mode == Mode::retry && (c.state & kStream); }

// pipe_write_all() is a blocking write to a pipe or tty that the hook must
// not make non-blocking: once it polls writable, at least PIPE_BUF bytes fit,
// so it writes at most that much at a time and never blocks the worker. The
// whole buffer goes out, as with libc's blocking write (though not atomically
// beyond PIPE_BUF, which POSIX does not promise either).
template <class Op>
ssize_t pipe_write_all(const Call& c, size_t total, Op op) noexcept {
  size_t done = 0;
  while (done < total || total == 0) {
    if (!ready_now(c.fd, 1)) {
      if (int e = wait(c, 1)) {
        if (done) return static_cast<ssize_t>(done);
        set_errno(e);
        return -1;
      }
      continue;
    }
    ssize_t n = op(done, std::min<size_t>(total - done, PIPE_BUF));
    if (n < 0) {
      int e = get_errno();
      if (e == EAGAIN || e == EWOULDBLOCK) continue;
      if (done) return static_cast<ssize_t>(done);
      return -1;
    }
    done += static_cast<size_t>(n);
    if (total == 0) break;
  }
  return static_cast<ssize_t>(done);
}

// recv_all() is recv with MSG_WAITALL on a stream socket: fill the buffer
// unless EOF, an error or the timeout comes first.
ssize_t recv_all(const Call& c, char* buf, size_t len, int flags) noexcept {
  size_t done = 0;
  const auto& r = real::fns();
  while (done < len) {
    ssize_t n = one_shot(c, 0, [&] { return r.recv(c.fd, buf + done, len - done, flags & ~MSG_WAITALL); });
    if (n == 0) break;
    if (n < 0) {
      if (done) break;
      return -1;
    }
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

}  // namespace
}  // namespace weft::hook

using namespace weft::hook;

extern "C" {

__attribute__((visibility("default"))) ssize_t read(int fd, void* buf, size_t n) {
  const auto& r = real::fns();
  Call c = begin(fd, 0);
  if (c.mode == Mode::libc) return r.read(fd, buf, n);
  return one_shot(c, 0, [&] { return r.read(fd, buf, n); });
}

__attribute__((visibility("default"))) ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
  if (n > buflen) __builtin_trap();  // what glibc's __chk_fail ends in
  return read(fd, buf, n);
}

__attribute__((visibility("default"))) ssize_t readv(int fd, const iovec* iov, int cnt) {
  const auto& r = real::fns();
  Call c = begin(fd, 0);
  if (c.mode == Mode::libc) return r.readv(fd, iov, cnt);
  return one_shot(c, 0, [&] { return r.readv(fd, iov, cnt); });
}

__attribute__((visibility("default"))) ssize_t recv(int fd, void* buf, size_t n, int flags) {
  const auto& r = real::fns();
  Call c = (flags & MSG_DONTWAIT) ? Call{} : begin(fd, 0);
  if (c.mode == Mode::libc) return r.recv(fd, buf, n, flags);
  if ((flags & MSG_WAITALL) && (c.state & kStream)) return recv_all(c, static_cast<char*>(buf), n, flags);
  return one_shot(c, 0, [&] { return r.recv(fd, buf, n, flags); });
}

__attribute__((visibility("default"))) ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags) {
  if (n > buflen) __builtin_trap();
  return recv(fd, buf, n, flags);
}

__attribute__((visibility("default"))) ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* from,
                                                        socklen_t* fromlen) {
  const auto& r = real::fns();
  Call c = (flags & MSG_DONTWAIT) ? Call{} : begin(fd, 0);
  if (c.mode == Mode::libc) return r.recvfrom(fd, buf, n, flags, from, fromlen);
  if ((flags & MSG_WAITALL) && (c.state & kStream) && !from) return recv_all(c, static_cast<char*>(buf), n, flags);
  return one_shot(c, 0, [&] { return r.recvfrom(fd, buf, n, flags, from, fromlen); });
}

__attribute__((visibility("default"))) ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags,
                                                              sockaddr* from, socklen_t* fromlen) {
  if (n > buflen) __builtin_trap();
  return recvfrom(fd, buf, n, flags, from, fromlen);
}

__attribute__((visibility("default"))) ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  const auto& r = real::fns();
  Call c = (flags & MSG_DONTWAIT) ? Call{} : begin(fd, 0);
  if (c.mode == Mode::libc) return r.recvmsg(fd, msg, flags);
  return one_shot(c, 0, [&] { return r.recvmsg(fd, msg, flags); });
}

__attribute__((visibility("default"))) ssize_t write(int fd, const void* buf, size_t n) {
  const auto& r = real::fns();
  Call c = begin(fd, 1);
  if (c.mode == Mode::libc) return r.write(fd, buf, n);
  if (stream_write(c))
    return write_all(c, n, [&](size_t done) { return r.write(fd, static_cast<const char*>(buf) + done, n - done); });
  if (c.mode == Mode::poll_first)
    return pipe_write_all(
        c, n, [&](size_t done, size_t len) { return r.write(fd, static_cast<const char*>(buf) + done, len); });
  return one_shot(c, 1, [&] { return r.write(fd, buf, n); });
}

__attribute__((visibility("default"))) ssize_t writev(int fd, const iovec* iov, int cnt) {
  const auto& r = real::fns();
  Call c = begin(fd, 1);
  if (c.mode == Mode::libc) return r.writev(fd, iov, cnt);
  if (stream_write(c)) {
    IovCursor cur(iov, cnt);
    size_t sent = 0;
    return write_all(c, iov_total(iov, cnt), [&](size_t done) {
      cur.advance(done - sent);
      sent = done;
      return r.writev(fd, cur.data(), cur.count());
    });
  }
  if (c.mode == Mode::poll_first) {
    IovCursor cur(iov, cnt);
    size_t sent = 0;
    return pipe_write_all(c, iov_total(iov, cnt), [&](size_t done, size_t len) {
      cur.advance(done - sent);
      sent = done;
      // At most len bytes: clip a copy of the iovecs still to go.
      iovec clip[IOV_MAX > 64 ? 64 : IOV_MAX];
      int k = 0;
      for (int i = 0; i < cur.count() && k < 64 && len; ++i, ++k) {
        clip[k] = cur.data()[i];
        clip[k].iov_len = std::min(clip[k].iov_len, len);
        len -= clip[k].iov_len;
      }
      return r.writev(fd, clip, k);
    });
  }
  return one_shot(c, 1, [&] { return r.writev(fd, iov, cnt); });
}

__attribute__((visibility("default"))) ssize_t send(int fd, const void* buf, size_t n, int flags) {
  const auto& r = real::fns();
  Call c = (flags & MSG_DONTWAIT) ? Call{} : begin(fd, 1);
  if (c.mode == Mode::libc) return r.send(fd, buf, n, flags);
  if (stream_write(c))
    return write_all(c, n,
                     [&](size_t done) { return r.send(fd, static_cast<const char*>(buf) + done, n - done, flags); });
  return one_shot(c, 1, [&] { return r.send(fd, buf, n, flags); });
}

__attribute__((visibility("default"))) ssize_t sendto(int fd, const void* buf, size_t n, int flags,
                                                      const sockaddr* to, socklen_t tolen) {
  const auto& r = real::fns();
  Call c = (flags & MSG_DONTWAIT) ? Call{} : begin(fd, 1);
  if (c.mode == Mode::libc) return r.sendto(fd, buf, n, flags, to, tolen);
  if (stream_write(c))
    return write_all(c, n, [&](size_t done) {
      return r.sendto(fd, static_cast<const char*>(buf) + done, n - done, flags, to, tolen);
    });
  return one_shot(c, 1, [&] { return r.sendto(fd, buf, n, flags, to, tolen); });
}

__attribute__((visibility("default"))) ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  const auto& r = real::fns();
  Call c = (flags & MSG_DONTWAIT) ? Call{} : begin(fd, 1);
  if (c.mode == Mode::libc) return r.sendmsg(fd, msg, flags);
  if (stream_write(c)) {
    IovCursor cur(msg->msg_iov, static_cast<int>(msg->msg_iovlen));
    size_t sent = 0;
    msghdr m = *msg;
    return write_all(c, iov_total(msg->msg_iov, static_cast<int>(msg->msg_iovlen)), [&](size_t done) {
      cur.advance(done - sent);
      if (done) {
        // Ancillary data went with the first bytes.
        m.msg_control = nullptr;
        m.msg_controllen = 0;
      }
      sent = done;
      m.msg_iov = cur.data();
      m.msg_iovlen = static_cast<size_t>(cur.count());
      return r.sendmsg(fd, &m, flags);
    });
  }
  return one_shot(c, 1, [&] { return r.sendmsg(fd, msg, flags); });
}

}  // extern "C"
