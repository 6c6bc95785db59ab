// The stall detector: a worker that runs one fiber past
// Config::stall_threshold without a pause (a spin loop, a blocking call the
// hook does not cover) counts one stall in Runtime::stats().stalls, and the
// other fibers keep moving meanwhile, even with one worker: another thread
// takes over the fibers queued behind the stuck one. Fibers parked in hooked
// calls are not stalls, however long they wait, nor is a worker thread that
// only waits for a CPU.
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <thread>

#include "support.hpp"

using namespace hook_test;

namespace {

// spin() keeps the thread busy for d without a single waiting call.
void spin(std::chrono::milliseconds d) {
  auto end = Clock::now() + d;
  while (Clock::now() < end) {
  }
}

const auto kLowThreshold = weft::Config{}.stall_threshold(50ms);

}  // namespace

TEST_CASE("a fiber spinning 300 ms counts one stall, and the fiber queued behind it moves on") {
  // The spawner waits in the stuck worker's LIFO slot (the child runs first):
  // another worker, or with one worker a spare, must take it over. Fibers
  // parked on the stuck worker itself resume when it moves again (README).
  for_each_workers(
      [](const Env& env) {
        const auto stalls_before = env.rt.stats().stalls;
        std::atomic<bool> done{false};
        auto spinner = weft::spawn([&] {
          spin(300ms);
          done = true;
        });
        long ticks = 0;
        while (!done.load()) {
          weft::this_fiber::sleep_for(1ms);
          ++ticks;
        }
        spinner.join();
        // The monitor counts the stall while the spin lasts; read it after.
        CHECK(wait_until([&] { return env.rt.stats().stalls > stalls_before; }, 2000ms));
        CHECK_MESSAGE(env.rt.stats().stalls - stalls_before == 1, env.workers << " workers");
        // 300 ms of 1 ms sleeps: hundreds of ticks, and still several on a
        // loaded machine; a spawner stuck behind the spinner ticks at most once.
        CHECK_MESSAGE(ticks >= 5, env.workers << " workers: the spawner ticked " << ticks << " times during the spin");
      },
      120'000ms, kLowThreshold);
}

TEST_CASE("fibers parked 300 ms in hooked calls are not stalls") {
  for_each_workers(
      [](const Env& env) {
        const auto stalls_before = env.rt.stats().stalls;
        auto p = unix_pair();
        auto writer = weft::spawn([&] {
          weft::this_fiber::sleep_for(300ms);
          CHECK(::write(p.b.get(), "x", 1) == 1);
        });
        char c;
        CHECK(::read(p.a.get(), &c, 1) == 1);
        writer.join();
        timespec ts{0, 300'000'000};
        CHECK(::nanosleep(&ts, nullptr) == 0);
        pollfd pfd{p.a.get(), POLLIN, 0};
        CHECK(::poll(&pfd, 1, 300) == 0);
        CHECK(env.rt.stats().stalls == stalls_before);
      },
      120'000ms, kLowThreshold);
}

TEST_CASE("a worker thread that only waits for a CPU counts no stall") {
  // The fiber spins without a pause until a plain thread has spun 300 ms on
  // the same CPU; its worker thread is SCHED_IDLE meanwhile, so it gets
  // almost none of that CPU: 300 ms without a switch, but no fault of the
  // fiber's. (It is the thread, not the fiber, that gets the policy and the
  // CPU; each run has a runtime of its own, so nothing else inherits them.)
  for_each_workers(
      [](const Env& env) {
        const auto stalls_before = env.rt.stats().stalls;
        std::atomic<bool> go{false}, hog_done{false};
        std::thread hog;
        weft::spawn([&] {
          cpu_set_t one;
          CPU_ZERO(&one);
          CPU_SET(sched_getcpu(), &one);
          REQUIRE(pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0);
          // Started before the policy changes: same CPU, ordinary policy.
          hog = std::thread([&] {
            while (!go.load()) {
            }
            spin(300ms);
            hog_done = true;
          });
          sched_param prio{};
          REQUIRE(pthread_setschedparam(pthread_self(), SCHED_IDLE, &prio) == 0);
          go = true;
          while (!hog_done.load()) {
          }
          // Back to normal if allowed (unprivileged, SCHED_IDLE may be final).
          pthread_setschedparam(pthread_self(), SCHED_OTHER, &prio);
        }).join();
        hog.join();
        CHECK_MESSAGE(env.rt.stats().stalls == stalls_before, env.workers << " workers");
      },
      120'000ms, kLowThreshold);
}

TEST_CASE("the default threshold is 100 ms") {
  for_each_workers([](const Env& env) {
    CHECK(weft::Config{}.stall_threshold() == 100ms);
    const auto stalls_before = env.rt.stats().stalls;
    // (A short spin is not checked: a worker thread the machine leaves
    // waiting for a CPU looks stuck for that long too.)
    weft::spawn([] { spin(400ms); }).join();
    CHECK(wait_until([&] { return env.rt.stats().stalls > stalls_before; }, 2000ms));
  });
}

TEST_CASE("a spin loop on one worker does not stop fibers waiting in hooked reads") {
  run_clean(
      1,
      [](const Env&) {
        auto p = unix_pair();
        std::atomic<bool> answered{false};
        // The reader parks in a hooked read; the answer comes from a fiber
        // that starts while the spinner holds the only worker.
        auto reader = weft::spawn([&] {
          char c;
          CHECK(::read(p.a.get(), &c, 1) == 1);
        });
        auto spinner = weft::spawn([&] {
          auto answer = weft::spawn([&] {
            weft::this_fiber::yield();  // back to the spinner, which holds on
            CHECK(::write(p.b.get(), "a", 1) == 1);
            answered = true;
          });
          auto end = Clock::now() + 2s;
          while (!answered.load() && Clock::now() < end) {
          }
          answer.join();
        });
        reader.join();
        spinner.join();
        CHECK(answered.load());
      },
      60'000ms, kLowThreshold);
}
