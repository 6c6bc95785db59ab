// The "weft" spdlog logger: diagnostics only, never on a fast path above trace.
#pragma once

#include <spdlog/spdlog.h>

namespace weft::detail {

// logger() returns the logger named "weft", made on first use with a stderr sink
// and the level named by the environment variable WEFT_LOG (trace, debug, info,
// warn, error, critical, off; default off). It is registered with spdlog, so a
// program can find it with spdlog::get("weft") and add sinks or change levels.
spdlog::logger& logger();

}  // namespace weft::detail
