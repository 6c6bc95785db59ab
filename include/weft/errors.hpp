// Errors that weft's fiber calls report.
#pragma once

#include <stdexcept>

namespace weft {

// Cancelled is thrown by a waiting call (join, sleep, yield, unblock, ...) in a
// fiber that has been cancelled, for instance because its runtime is shutting
// down. Let it propagate: it unwinds the fiber's stack, running destructors, and
// is not logged as a failure.
class Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("weft: fiber cancelled") {}
};

// RuntimeStopped is thrown by spawn() into a runtime that is not running or is
// shutting down.
class RuntimeStopped : public std::runtime_error {
 public:
  RuntimeStopped() : std::runtime_error("weft: the runtime is not running") {}
};

}  // namespace weft
