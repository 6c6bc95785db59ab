// 100,000 fibers alive at once with the default configuration (guard pages
// chosen automatically, 128 KiB stacks): they all park on one condition
// variable, the counters show them all, and they are released and joined.
#include <atomic>
#include <mutex>
#include <vector>

#include <boost/fiber/condition_variable.hpp>
#include <boost/fiber/mutex.hpp>

#include "support.hpp"

using namespace weft_test;

TEST_CASE("100,000 parked fibers alive at once, then released and joined") {
  WEFT_WORKER_SUBCASES(workers);
  constexpr std::size_t kFibers = 100'000;
  Watchdog dog(300s, "100,000 fibers");
  weft::Runtime rt(config(workers));

  boost::fibers::mutex mu;
  boost::fibers::condition_variable_any cv;
  bool released = false;  // guarded by mu
  // parked counts fibers that reached the wait (bumped under mu, read without).
  std::atomic<std::size_t> parked{0};
  std::atomic<std::size_t> woke{0};

  std::vector<weft::JoinHandle<void>> hs;
  hs.reserve(kFibers);
  // Spawned from the main thread, so no other fiber is alive meanwhile.
  for (std::size_t i = 0; i < kFibers; ++i) {
    hs.push_back(rt.spawn([&] {
      std::unique_lock<boost::fibers::mutex> lock(mu);
      parked.fetch_add(1, std::memory_order_relaxed);
      cv.wait(lock, [&] { return released; });
      woke.fetch_add(1, std::memory_order_relaxed);
    }));
  }
  REQUIRE(wait_until([&] { return parked.load() == kFibers; }, 120s));

  weft::RuntimeStats s = rt.stats();
  CHECK(s.live_fibers == kFibers);
  CHECK(s.stacks_in_use == kFibers);
  CHECK(s.stacks_reserved >= kFibers);
  CHECK(woke.load() == 0);

  {
    std::lock_guard<boost::fibers::mutex> lock(mu);
    released = true;
  }
  cv.notify_all();
  for (auto& h : hs) h.join();
  CHECK(woke.load() == kFibers);
  CHECK(wait_until([&] { return rt.stats().live_fibers == 0; }, 10s));
  // A finished fiber's stack returns when its worker frees the context, a
  // moment after the joiner wakes; a bounded wait, not a snapshot.
  CHECK(wait_until([&] { return rt.stats().stacks_in_use == 0; }, 5s));
}
