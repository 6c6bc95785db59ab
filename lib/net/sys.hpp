// The socket syscalls of weft::net's reads and writes, made directly rather
// than through libc's wrappers. Internal to the library.
//
// Why: glibc's recv(), send() and friends are pthread cancellation points. In
// a process with more than one thread (every weft runtime has its reactor
// thread) each such call switches the thread's cancellation type to
// asynchronous and back around the syscall: two atomic read-modify-writes on
// the thread descriptor, and a cold line to fetch after the syscall. Under an
// echo load that was about 50 ns of a 3.4 us message, a third of the user
// time. weft never cancels its workers with pthread_cancel(), and a fiber's
// cancellation is weft's own, so the wrappers' switching buys nothing here.
//
// Each call keeps libc's contract: the result, or -1 with errno set. Only
// the descriptor's own calls go this way; the hooks of libweft_hook still see
// every call user code makes through libc.
#pragma once

#include <cerrno>
#include <type_traits>

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(memory_sanitizer)
#define WEFT_NET_SYS_LIBC 1  // MSan learns what a syscall wrote only from libc's interceptors
#endif
#endif

namespace weft::net::sys {

// arg() is one argument as the register holds it: a whole long, whatever
// the parameter's type, so that no upper half is left undefined.
template <class T>
inline long arg(T v) noexcept {
  if constexpr (std::is_pointer_v<T>)
    return reinterpret_cast<long>(v);
  else
    return static_cast<long>(v);
}

#if defined(__x86_64__) && defined(__linux__) && !defined(WEFT_NET_SYS_LIBC)

// call6() is the syscall instruction itself, with libc's contract: the
// result, or -1 with errno set (the kernel returns -errno).
inline ssize_t call6(long nr, long a, long b, long c, long d, long e, long f) noexcept {
  long ret;
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  register long r9 asm("r9") = f;
  asm volatile("syscall"
               : "=a"(ret)
               : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
               : "rcx", "r11", "memory");
  if (ret < 0 && ret > -4096) {
    errno = static_cast<int>(-ret);
    return -1;
  }
  return ret;
}

#else

// Elsewhere libc's syscall(), which is no cancellation point either.
inline ssize_t call6(long nr, long a, long b, long c, long d, long e, long f) noexcept {
  return ::syscall(nr, a, b, c, d, e, f);
}

#endif

template <class A, class B, class C, class D = long, class E = long, class F = long>
inline ssize_t call(long nr, A a, B b, C c, D d = 0, E e = 0, F f = 0) noexcept {
  return call6(nr, arg(a), arg(b), arg(c), arg(d), arg(e), arg(f));
}

#if defined(WEFT_NET_SYS_LIBC)

inline ssize_t recv(int fd, void* buf, size_t n, int flags) noexcept { return ::recv(fd, buf, n, flags); }
inline ssize_t send(int fd, const void* buf, size_t n, int flags) noexcept { return ::send(fd, buf, n, flags); }
inline ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* from, socklen_t* len) noexcept {
  return ::recvfrom(fd, buf, n, flags, from, len);
}
inline ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* to, socklen_t len) noexcept {
  return ::sendto(fd, buf, n, flags, to, len);
}
inline ssize_t recvmsg(int fd, msghdr* msg, int flags) noexcept { return ::recvmsg(fd, msg, flags); }
inline ssize_t sendmsg(int fd, const msghdr* msg, int flags) noexcept { return ::sendmsg(fd, msg, flags); }

#else

// recv() and send() are recvfrom() and sendto() without an address, as in
// libc (x86-64 has no recv or send syscall of its own).
inline ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* from, socklen_t* len) noexcept {
  return call(SYS_recvfrom, fd, buf, n, flags, from, len);
}
inline ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* to, socklen_t len) noexcept {
  return call(SYS_sendto, fd, buf, n, flags, to, len);
}
inline ssize_t recv(int fd, void* buf, size_t n, int flags) noexcept {
  return recvfrom(fd, buf, n, flags, nullptr, nullptr);
}
inline ssize_t send(int fd, const void* buf, size_t n, int flags) noexcept {
  return sendto(fd, buf, n, flags, nullptr, 0);
}
inline ssize_t recvmsg(int fd, msghdr* msg, int flags) noexcept { return call(SYS_recvmsg, fd, msg, flags); }
inline ssize_t sendmsg(int fd, const msghdr* msg, int flags) noexcept { return call(SYS_sendmsg, fd, msg, flags); }

#endif

}  // namespace weft::net::sys
