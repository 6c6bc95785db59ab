// One logger for the whole library, made once and registered with spdlog.
#include "log.hpp"

#include <cstdlib>
#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace weft::detail {

namespace {
std::shared_ptr<spdlog::logger> make_logger() {
  // Another part of the program may have registered "weft" already: use it.
  if (auto existing = spdlog::get("weft")) return existing;
  auto lg = spdlog::stderr_color_mt("weft");
  const char* env = std::getenv("WEFT_LOG");
  lg->set_level(env ? spdlog::level::from_str(env) : spdlog::level::off);
  lg->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [weft] [%l] [tid %t] %v");
  return lg;
}
}  // namespace

spdlog::logger& logger() {
  // Kept alive for the life of the process: fibers may log during static
  // destruction of other objects.
  static std::shared_ptr<spdlog::logger> lg = make_logger();
  return *lg;
}

}  // namespace weft::detail
