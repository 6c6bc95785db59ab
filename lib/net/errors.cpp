// The error categories of weft::net.
#include <weft/net/errors.hpp>

#include <netdb.h>

#include <string>

namespace weft::net {

namespace {

class NetCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "weft.net"; }
  std::string message(int v) const override {
    switch (static_cast<Errc>(v)) {
      case Errc::unexpected_eof: return "unexpected end of stream";
    }
    return "unknown weft.net error " + std::to_string(v);
  }
};

class ResolveCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "weft.resolve"; }
  std::string message(int v) const override { return gai_strerror(v); }
  std::error_condition default_error_condition(int v) const noexcept override {
    // The few EAI codes with a portable counterpart compare equal to it.
    switch (v) {
      case EAI_MEMORY: return std::errc::not_enough_memory;
      case EAI_FAMILY: return std::errc::address_family_not_supported;
      case EAI_AGAIN: return std::errc::resource_unavailable_try_again;
      default: return {v, *this};
    }
  }
};

}  // namespace

const std::error_category& net_category() noexcept {
  static const NetCategory c;
  return c;
}

const std::error_category& resolve_category() noexcept {
  static const ResolveCategory c;
  return c;
}

}  // namespace weft::net
