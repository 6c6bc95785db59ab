#include "real.hpp"

#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace weft::hook::real {

namespace {
Table table;
std::atomic<bool> ready{false};

template <class F>
void find(F& slot, const char* name) noexcept {
  slot = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
  if (!slot) {
    // Without libc's own function the call cannot be made at all.
    std::fprintf(stderr, "weft_hook: libc has no %s\n", name);
    std::abort();
  }
}

void resolve() noexcept {
  Table t;
  find(t.socket, "socket");
  find(t.socketpair, "socketpair");
  find(t.accept, "accept");
  find(t.accept4, "accept4");
  find(t.connect, "connect");
  find(t.read, "read");
  find(t.readv, "readv");
  find(t.recv, "recv");
  find(t.recvfrom, "recvfrom");
  find(t.recvmsg, "recvmsg");
  find(t.write, "write");
  find(t.writev, "writev");
  find(t.send, "send");
  find(t.sendto, "sendto");
  find(t.sendmsg, "sendmsg");
  find(t.poll, "poll");
  find(t.select, "select");
  find(t.sleep, "sleep");
  find(t.usleep, "usleep");
  find(t.nanosleep, "nanosleep");
  find(t.clock_nanosleep, "clock_nanosleep");
  find(t.close, "close");
  find(t.dup, "dup");
  find(t.dup2, "dup2");
  find(t.dup3, "dup3");
  find(t.pipe, "pipe");
  find(t.pipe2, "pipe2");
  find(t.fcntl, "fcntl");
  find(t.fcntl64, "fcntl64");
  find(t.ioctl, "ioctl");
  find(t.setsockopt, "setsockopt");
  find(t.getaddrinfo, "getaddrinfo");
  find(t.getnameinfo, "getnameinfo");
  find(t.gethostbyname, "gethostbyname");
  find(t.gethostbyname2, "gethostbyname2");
  find(t.gethostbyname_r, "gethostbyname_r");
  table = t;
  ready.store(true, std::memory_order_release);
}

__attribute__((constructor)) void init() { fns(); }
}  // namespace

const Table& fns() noexcept {
  // Racing first calls resolve twice to the same values: harmless.
  if (!ready.load(std::memory_order_acquire)) resolve();
  return table;
}

}  // namespace weft::hook::real
