// Shared pieces of weft::fs: running a call on the blocking pool with its
// error in an error_code, and the exceptions that carry paths. Internal.
#pragma once

#include <sys/stat.h>

#include <new>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include <weft/errors.hpp>
#include <weft/fs.hpp>
#include <weft/unblock.hpp>

namespace weft::fs::detail {

// offload() runs job (which reports its own failures in ec) on the blocking
// pool, turning what unblock() itself may throw into ec: Cancelled is
// operation_canceled, a pool that cannot start a thread its system_error.
// On those failures it returns a value-initialised result.
template <class F>
auto offload(std::error_code& ec, F&& job) noexcept -> decltype(job()) {
  using R = decltype(job());
  ec.clear();
  try {
    return weft::unblock(job);
  } catch (const Cancelled&) {
    ec = std::make_error_code(std::errc::operation_canceled);
  } catch (const std::system_error& e) {
    ec = e.code();
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  } catch (...) {
    ec = std::make_error_code(std::errc::io_error);
  }
  if constexpr (!std::is_void_v<R>) return R{};
}

// fail() throws for the throwing forms: Cancelled for a cancelled fiber,
// std::filesystem::filesystem_error("weft::fs: what", p[, p2], ec) otherwise.
[[noreturn]] void fail(const char* what, const path& p, std::error_code ec);
[[noreturn]] void fail(const char* what, const path& p, const path& p2, std::error_code ec);

// errno_code() is e as an error_code.
inline std::error_code errno_code(int e) noexcept { return {e, std::generic_category()}; }

// to_metadata() converts a stat result.
Metadata to_metadata(const struct stat& st) noexcept;

}  // namespace weft::fs::detail
