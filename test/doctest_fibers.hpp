// doctest's message macros, made safe for fibers that move between threads.
//
// doctest keeps INFO/CAPTURE scopes (and the scope CHECK_MESSAGE opens) in a
// thread_local vector, through inline code: in a fiber the compiler may keep
// that vector's address across a call that parks, and the fiber may resume
// on another worker, then push onto another thread's vector (weft's hazard 1,
// caught here by AddressSanitizer). These versions format the message only
// when the check fails, and report it through doctest's out-of-line paths.
// INFO and CAPTURE become no-ops: a context that outlives a park cannot be
// kept per thread at all.
#pragma once

#include <sstream>

#include <doctest/doctest.h>

#undef CHECK_MESSAGE
#undef REQUIRE_MESSAGE
#undef WARN_MESSAGE
#undef INFO
#undef CAPTURE

#define CHECK_MESSAGE(cond, ...)                                       \
  do {                                                                 \
    if (cond) {                                                        \
      CHECK(true);                                                     \
    } else {                                                           \
      std::ostringstream weft_msg_;                                    \
      weft_msg_ << __VA_ARGS__;                                        \
      FAIL_CHECK("CHECK_MESSAGE( " #cond " ): " << weft_msg_.str());   \
    }                                                                  \
  } while (0)

#define REQUIRE_MESSAGE(cond, ...)                                     \
  do {                                                                 \
    if (cond) {                                                        \
      CHECK(true);                                                     \
    } else {                                                           \
      std::ostringstream weft_msg_;                                    \
      weft_msg_ << __VA_ARGS__;                                        \
      FAIL("REQUIRE_MESSAGE( " #cond " ): " << weft_msg_.str());       \
    }                                                                  \
  } while (0)

#define WARN_MESSAGE(cond, ...)                                        \
  do {                                                                 \
    if (!(cond)) {                                                     \
      std::ostringstream weft_msg_;                                    \
      weft_msg_ << __VA_ARGS__;                                        \
      MESSAGE("WARN_MESSAGE( " #cond " ): " << weft_msg_.str());       \
    }                                                                  \
  } while (0)

#define INFO(...) static_cast<void>(0)
#define CAPTURE(...) static_cast<void>(0)
