// Name lookups block on the network inside glibc (through internal calls no
// hook sees), so in a fiber they run on the runtime's blocking pool instead.
// h_errno is thread-local: it is carried back from the pool thread.
#include <netdb.h>

#include "core.hpp"
#include "real.hpp"

using namespace weft::hook;

namespace {
// on_pool() runs fn on the blocking pool for fiber f and returns ECANCELED if
// the fiber was cancelled meanwhile (fn has run to completion either way).
template <class Fn>
int on_pool(void* f, Fn&& fn) noexcept {
  auto tramp = [](void* p) { (*static_cast<Fn*>(p))(); };
  return api()->run_blocking(f, tramp, &fn);
}
}  // namespace

extern "C" {

__attribute__((visibility("default"))) int getaddrinfo(const char* node, const char* service, const addrinfo* hints,
                                                       addrinfo** res) {
  void* f = fiber();
  if (!f) return real::fns().getaddrinfo(node, service, hints, res);
  int rc = EAI_SYSTEM;
  int err = 0;
  on_pool(f, [&] {
    rc = real::fns().getaddrinfo(node, service, hints, res);
    err = get_errno();
  });
  if (rc == EAI_SYSTEM) set_errno(err);
  return rc;
}

__attribute__((visibility("default"))) int getnameinfo(const sockaddr* sa, socklen_t salen, char* host,
                                                       socklen_t hostlen, char* serv, socklen_t servlen, int flags) {
  void* f = fiber();
  if (!f) return real::fns().getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
  int rc = EAI_SYSTEM;
  int err = 0;
  on_pool(f, [&] {
    rc = real::fns().getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
    err = get_errno();
  });
  if (rc == EAI_SYSTEM) set_errno(err);
  return rc;
}

__attribute__((visibility("default"))) hostent* gethostbyname(const char* name) {
  void* f = fiber();
  if (!f) return real::fns().gethostbyname(name);
  hostent* h = nullptr;
  int herr = 0;
  on_pool(f, [&] {
    h = real::fns().gethostbyname(name);
    herr = h_errno;
  });
  h_errno = herr;
  return h;
}

__attribute__((visibility("default"))) hostent* gethostbyname2(const char* name, int af) {
  void* f = fiber();
  if (!f) return real::fns().gethostbyname2(name, af);
  hostent* h = nullptr;
  int herr = 0;
  on_pool(f, [&] {
    h = real::fns().gethostbyname2(name, af);
    herr = h_errno;
  });
  h_errno = herr;
  return h;
}

__attribute__((visibility("default"))) int gethostbyname_r(const char* name, hostent* ret, char* buf, size_t len,
                                                           hostent** result, int* herr) {
  void* f = fiber();
  if (!f) return real::fns().gethostbyname_r(name, ret, buf, len, result, herr);
  int rc = 0;
  on_pool(f, [&] { rc = real::fns().gethostbyname_r(name, ret, buf, len, result, herr); });
  return rc;
}

}  // extern "C"
