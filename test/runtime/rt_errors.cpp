// A detached fiber that throws is logged with its name and the process goes
// on; a joined fiber's exception goes to the joiner instead, and cancellation
// is not a failure. The text is captured by a sink added to the "weft" logger.
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "support.hpp"

using namespace weft_test;

namespace {

// CaptureSink keeps every formatted message; text() may be read while
// workers log, under the sink's own mutex.
class CaptureSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string text() {
    std::lock_guard<std::mutex> lock(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t out;
    formatter_->format(msg, out);
    text_.append(out.data(), out.size());
  }
  void flush_() override {}

 private:
  std::string text_;  // guarded by mutex_
};

// LogCapture gives the "weft" logger a CaptureSink in place of its own sinks
// (so expected failures stay out of the test output) at warn level for its
// lifetime, then restores the logger. The sinks change only while the level
// is off (the library's default), so no concurrent log call walks the list.
class LogCapture {
 public:
  LogCapture() : logger_(spdlog::get("weft")), sink_(std::make_shared<CaptureSink>()) {
    REQUIRE_MESSAGE(logger_ != nullptr, "the library did not register a logger named \"weft\"");
    level_ = logger_->level();
    logger_->set_level(spdlog::level::off);
    saved_sinks_ = logger_->sinks();
    logger_->sinks() = {sink_};
    logger_->set_level(spdlog::level::warn);
  }
  ~LogCapture() {
    logger_->set_level(spdlog::level::off);
    logger_->sinks() = saved_sinks_;
    logger_->set_level(level_);
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // wait_for() is true once the captured text contains every one of parts.
  bool wait_for(std::initializer_list<std::string> parts) {
    return wait_until([&] { return contains_all(sink_->text(), parts); }, 5s);
  }
  std::string text() { return sink_->text(); }

 private:
  static bool contains_all(const std::string& text, std::initializer_list<std::string> parts) {
    for (const auto& p : parts) {
      if (text.find(p) == std::string::npos) return false;
    }
    return true;
  }

  std::shared_ptr<spdlog::logger> logger_;
  std::shared_ptr<CaptureSink> sink_;
  std::vector<spdlog::sink_ptr> saved_sinks_;
  spdlog::level::level_enum level_ = spdlog::level::off;
};

}  // namespace

TEST_CASE("a detached fiber that throws is logged with its name and message") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "detached failure log");
  weft::Runtime rt(config(workers));
  rt.start();  // the logger exists once a runtime has started
  LogCapture log;

  rt.spawn(weft::SpawnOptions{"doomed-fiber", 0}, [] {
    throw std::runtime_error("kaboom-123");
  }).detach();
  CHECK_MESSAGE(log.wait_for({"doomed-fiber", "kaboom-123"}), "log so far:\n" << log.text());

  // A dropped handle detaches as well, from inside a fiber this time.
  rt.block_on([] {
    weft::spawn(weft::SpawnOptions{"dropped-fiber", 0}, [] {
      weft::this_fiber::yield();
      throw std::logic_error("dropped-and-failed");
    });
  });
  CHECK_MESSAGE(log.wait_for({"dropped-fiber", "dropped-and-failed"}),
                "log so far:\n" << log.text());

  // Something that is not a std::exception is still reported by name.
  rt.spawn(weft::SpawnOptions{"int-thrower", 0}, [] { throw 42; }).detach();
  CHECK_MESSAGE(log.wait_for({"int-thrower"}), "log so far:\n" << log.text());

  // The process and the runtime go on.
  CHECK(rt.block_on([] { return weft::spawn([] { return 5; }).join(); }) == 5);
}

TEST_CASE("a joined fiber's exception and a cancellation are not logged as failures") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "no failure log");
  weft::Runtime rt(config(workers));
  rt.start();
  LogCapture log;

  auto h = rt.spawn(weft::SpawnOptions{"joined-thrower", 0}, [] {
    throw std::runtime_error("handed-to-joiner");
  });
  CHECK_THROWS_WITH_AS(h.join(), "handed-to-joiner", std::runtime_error);

  auto sleeper = rt.spawn(weft::SpawnOptions{"cancelled-sleeper", 0}, [] {
    weft::this_fiber::sleep_for(std::chrono::hours(1));
  });
  sleeper.cancel();
  sleeper.detach();
  rt.spawn(weft::SpawnOptions{"quiet-at-shutdown", 0}, [] {
    weft::this_fiber::sleep_for(std::chrono::hours(1));
  }).detach();
  REQUIRE(wait_until([&] { return rt.stats().live_fibers <= 1; }, 10s));
  rt.shutdown();

  // A marker after everything else: once it shows, anything the fibers
  // above would have logged has been logged.
  rt.spawn(weft::SpawnOptions{"log-marker", 0}, [] { throw std::runtime_error("marker"); })
      .detach();
  REQUIRE(log.wait_for({"log-marker"}));
  std::string text = log.text();
  INFO("log:\n" << text);
  CHECK(text.find("joined-thrower") == std::string::npos);
  CHECK(text.find("cancelled-sleeper") == std::string::npos);
  CHECK(text.find("quiet-at-shutdown") == std::string::npos);
}

TEST_CASE("shutdown names the fibers still alive after shutdown_grace") {
  WEFT_WORKER_SUBCASES(workers);
  Watchdog dog(30s, "shutdown grace log");
  weft::Runtime rt(config(workers).shutdown_grace(50ms));
  rt.start();
  LogCapture log;
  std::atomic<bool> started{false};
  rt.spawn(weft::SpawnOptions{"stubborn-fiber", 0}, [&] {
    started = true;
    try {
      weft::this_fiber::sleep_for(std::chrono::hours(1));
    } catch (const weft::Cancelled&) {
      // Unwinding takes longer than the grace: keep busy (no waiting call)
      // until shutdown has named this fiber, or give up after a while.
      auto until = Clock::now() + 1s;
      while (Clock::now() < until && log.text().find("stubborn-fiber") == std::string::npos) {
      }
    }
  }).detach();
  REQUIRE(wait_until([&] { return started.load(); }, 10s));
  rt.shutdown();
  std::string text = log.text();
  INFO("log (start):\n" << text.substr(0, 400));
  CHECK(text.find("stubborn-fiber") != std::string::npos);
}
