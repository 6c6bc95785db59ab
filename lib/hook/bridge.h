/* The C interface between libweft and libweft_hook.
 *
 * The hook library interposes libc calls process-wide but knows nothing of
 * fibers; libweft knows fibers but must not depend on the hook. So the hook
 * exports weft_hook_attach(), and each runtime, when it starts, looks that
 * symbol up with dlsym(RTLD_DEFAULT) and hands over this table. Neither side
 * links the other: the hook works whether weft is linked statically or as a
 * shared library, and whether the hook is linked or preloaded.
 *
 * Deadlines are CLOCK_MONOTONIC nanoseconds (std::chrono::steady_clock on
 * Linux); WEFT_HOOK_NO_DEADLINE means none. Functions return 0 or an errno.
 */
#ifndef WEFT_HOOK_BRIDGE_H
#define WEFT_HOOK_BRIDGE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_HOOK_API_VERSION 1u
#define WEFT_HOOK_NO_DEADLINE INT64_MAX

/* weft_hook_reg is one descriptor's registration with a runtime's reactor,
 * kept by the hook beside its own record of the descriptor. All zero: none. */
struct weft_hook_reg {
  void* core;
  void* source;
  uint64_t serial; /* which runtime instance made it */
  uint32_t gen;
};

struct weft_hook_api {
  uint32_t version;
  uint32_t size;
  /* current() is the calling weft fiber (an opaque handle), or null on a
   * plain thread and in a worker's own scheduling contexts. */
  void* (*current)(void);
  /* prepare() registers fd with the fiber's runtime unless reg already is
   * (EPERM: descriptors epoll cannot watch, such as regular files). */
  int (*prepare)(void* fiber, int fd, struct weft_hook_reg* reg);
  /* wait() parks the fiber until the descriptor behind reg turns ready for
   * reading (dir 0) or writing (dir 1). 0: retry the call. ETIMEDOUT,
   * ECANCELED, EBADF (unregistered meanwhile), EBUSY (another fiber waits in
   * the same direction). */
  int (*wait)(void* fiber, const struct weft_hook_reg* reg, int dir, int64_t deadline_ns);
  /* forget() unregisters; call it before the descriptor is closed. Any thread.
   * prepare() and forget() throw nothing and call nothing an interposing
   * library would hook: the hook calls them under its descriptor lock. */
  void (*forget)(const struct weft_hook_reg* reg);
  /* sleep_until() parks the fiber until the deadline. 0, ECANCELED, or
   * ETIMEDOUT when a deadline scope cut it short. */
  int (*sleep_until)(void* fiber, int64_t deadline_ns);
  /* run_blocking() runs fn(arg) on the blocking pool while the fiber parks;
   * ECANCELED if the fiber was cancelled meanwhile (fn has run anyway). */
  int (*run_blocking)(void* fiber, void (*fn)(void*), void* arg);
  /* cancelled() is nonzero once the fiber has been cancelled. */
  int (*cancelled)(void* fiber);
};

/* Defined by libweft_hook; looked up by libweft. */
void weft_hook_attach(const struct weft_hook_api* api);

#ifdef __cplusplus
}
#endif

#endif
