// Hooked sleeps: nanosleep, usleep, sleep and std::this_thread::sleep_for
// park the fiber for at least the time asked, and the worker runs other
// fibers meanwhile (on its own thread, with one worker).
#include <time.h>
#include <unistd.h>

#include <thread>

#include "support.hpp"

using namespace hook_test;

namespace {

// expect_parked_sleep() runs a sleep through a Sidekick and checks it lasted
// at least min_ms and let the worker run the sidekick.
template <class F>
void expect_parked_sleep(const Env& env, const std::string& what, long long min_ms, F sleep) {
  Sidekick side([] {});
  auto t0 = Clock::now();
  auto rc = side.call(sleep);
  auto ms = ms_since(t0);
  side.finish(env.workers);
  CHECK_MESSAGE(rc == 0, what);
  CHECK_MESSAGE(ms >= min_ms, what << ": slept " << ms << " ms");
  CHECK_MESSAGE(ms < min_ms + 5000, what << ": slept " << ms << " ms");
}

}  // namespace

TEST_CASE("nanosleep, usleep and std::this_thread::sleep_for park the fiber") {
  for_each_workers([](const Env& env) {
    expect_parked_sleep(env, "nanosleep", 50, [] {
      timespec ts{0, 50'000'000};
      timespec rem{1, 1};
      int rc = ::nanosleep(&ts, &rem);
      return rc;
    });
    expect_parked_sleep(env, "usleep", 50, [] { return ::usleep(50'000); });
    expect_parked_sleep(env, "std::this_thread::sleep_for", 50, [] {
      std::this_thread::sleep_for(50ms);
      return 0;
    });
    expect_parked_sleep(env, "std::this_thread::sleep_until", 50, [] {
      std::this_thread::sleep_until(Clock::now() + 50ms);
      return 0;
    });
  });
}

TEST_CASE("sleep(1) parks the fiber for a second") {
  for_each_workers([](const Env& env) {
    expect_parked_sleep(env, "sleep", 1000, [] { return static_cast<int>(::sleep(1)); });
  });
}

TEST_CASE("a fiber sleeping in a loop lets another fiber on its worker keep counting") {
  for_each_workers([](const Env&) {
    std::atomic<bool> stop{false};
    std::atomic<long> count{0};
    auto counter = weft::spawn([&] {
      while (!stop.load()) {
        count.fetch_add(1);
        weft::this_fiber::yield();
      }
    });
    long before = count.load();
    for (int i = 0; i < 20; ++i) ::usleep(1000);
    long during = count.load() - before;
    stop = true;
    counter.join();
    // Twenty parked sleeps give the counter at least twenty turns.
    CHECK(during >= 20);
  });
}

TEST_CASE("nanosleep rejects a bad timespec with EINVAL, and zero returns at once") {
  for_each_workers([](const Env&) {
    timespec bad{0, 1'000'000'000};
    errno = 0;
    CHECK(::nanosleep(&bad, nullptr) == -1);
    CHECK(last_errno() == EINVAL);
    timespec neg{-1, 0};
    errno = 0;
    CHECK(::nanosleep(&neg, nullptr) == -1);
    CHECK(last_errno() == EINVAL);
    timespec zero{0, 0};
    auto t0 = Clock::now();
    CHECK(::nanosleep(&zero, nullptr) == 0);
    CHECK(::usleep(0) == 0);
    CHECK(ms_since(t0) < 1000);
  });
}
