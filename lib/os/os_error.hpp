// Error plumbing of weft::process and weft::fs. Internal to the library.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>

#include <weft/errors.hpp>

namespace weft::os {

// fail() throws for the throwing form of a call whose no-throw form set ec:
// weft::Cancelled for a cancelled fiber, std::system_error("what: ...")
// otherwise.
[[noreturn]] inline void fail(std::error_code ec, const std::string& what) {
  if (ec == std::errc::operation_canceled) throw Cancelled();
  throw std::system_error(ec, what);
}

// errno_code() is errno as an error_code (read it right after the call).
inline std::error_code errno_code(int e) noexcept { return {e, std::generic_category()}; }

}  // namespace weft::os
