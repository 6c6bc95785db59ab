// Error codes that weft::net adds to the operating system's errno values.
#pragma once

#include <system_error>
#include <type_traits>

namespace weft::net {

// Errc lists the failures of weft::net that are not an errno value.
enum class Errc {
  // unexpected_eof: the peer closed the stream before read_exact() had all
  // the bytes it asked for.
  unexpected_eof = 1,
};

// net_category() is the category of Errc values ("weft.net").
const std::error_category& net_category() noexcept;

// resolve_category() is the category of getaddrinfo() failures ("weft.resolve"):
// the value is the EAI_* code and message() is gai_strerror()'s text.
// EAI_SYSTEM never shows up there: resolve() reports the errno behind it in
// std::generic_category() instead.
const std::error_category& resolve_category() noexcept;

// make_error_code() lets an Errc be compared with and stored in std::error_code.
inline std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), net_category()}; }

}  // namespace weft::net

template <>
struct std::is_error_code_enum<weft::net::Errc> : std::true_type {};
