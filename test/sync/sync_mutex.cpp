// weft::Mutex: exclusion under contention, bounded unfairness, cancellation and
// deadlines of parked lockers (leaving no trace), plain threads mixed with
// fibers.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <mutex>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "sync_support.hpp"

using namespace sync_test;

TEST_CASE("Mutex: lock, try_lock, unlock, standard lock types") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    weft::Mutex mu;
    CHECK(mu.try_lock());
    CHECK_FALSE(mu.try_lock());
    CHECK_FALSE(mu.try_lock_for(1ms));
    mu.unlock();
    {
      std::lock_guard<weft::Mutex> g(mu);
      CHECK_FALSE(mu.try_lock());
    }
    {
      std::unique_lock<weft::Mutex> l(mu, std::defer_lock);
      CHECK(l.try_lock_for(10ms));
      CHECK(l.owns_lock());
    }
    weft::Mutex other;
    {
      std::scoped_lock both(mu, other);
      CHECK_FALSE(other.try_lock());
    }
    std::error_code ec;
    CHECK(mu.lock(ec));
    CHECK_FALSE(ec);
    CHECK_FALSE(mu.lock(ec, weft::deadline_in(1ms)));
    CHECK(ec == std::errc::timed_out);
    mu.unlock();
    CHECK(mu.try_lock());
    mu.unlock();
  });
}

TEST_CASE("Mutex: thousands of fibers keep a counter exact, holding it across parks") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "Mutex contention");
  constexpr int kFibers = 2000, kIters = 5;
  weft::Mutex mu;
  long counter = 0;  // guarded by mu
  int inside = 0;    // guarded by mu: must never exceed 1
  int max_inside = 0;
  weft::run(config(workers), [&] {
    std::vector<weft::JoinHandle<void>> hs;
    for (int f = 0; f < kFibers; ++f) {
      hs.push_back(weft::spawn([&, f] {
        for (int i = 0; i < kIters; ++i) {
          std::lock_guard<weft::Mutex> g(mu);
          max_inside = std::max(max_inside, ++inside);
          long v = counter;
          if ((f + i) % 7 == 0) weft::this_fiber::yield();  // hold it across a park
          counter = v + 1;
          --inside;
        }
      }));
    }
    for (auto& h : hs) h.join();
  });
  CHECK(counter == long{kFibers} * kIters);
  CHECK(max_inside == 1);
}

TEST_CASE("Mutex: the debt to a woken waiter bounds how many acquisitions a waiter sees before its own") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "Mutex fairness");
  constexpr int kFibers = 32, kRounds = 100;
  // Once queued, a fiber waits for those queued ahead of it (at most
  // kFibers - 1), each passed by about one barger per worker (the unlocker
  // relocking, fibers spinning on the other workers) before it runs and loses
  // once, and is passed as often itself: about (workers + 2) * kFibers. The
  // bound leaves room for one 50 us fuse (a woken waiter whose worker thread
  // lost its core) and for the spin before queueing.
  constexpr long kBound = 8L * kFibers;
  weft::Mutex mu;
  std::atomic<long> acquisitions{0};
  std::atomic<long> worst{0};
  std::atomic<long> over{0};
  weft::run(config(workers), [&] {
    std::vector<weft::JoinHandle<void>> hs;
    for (int f = 0; f < kFibers; ++f) {
      hs.push_back(weft::spawn([&] {
        for (int r = 0; r < kRounds; ++r) {
          long before = acquisitions.load();
          mu.lock();
          long others = acquisitions.fetch_add(1) - before;
          if (others > kBound) over.fetch_add(1);
          long w = worst.load();
          while (others > w && !worst.compare_exchange_weak(w, others)) {
          }
          // Park while holding it, so that everyone else queues up behind,
          // and the unlocker, relocking at once, races every woken waiter.
          weft::this_fiber::yield();
          mu.unlock();
        }
      }));
    }
    for (auto& h : hs) h.join();
  });
  MESSAGE("worst ", worst.load(), ", over the bound ", over.load(), " of ", kFibers * kRounds);
  // The count starts before the fiber queues, and a woken waiter whose worker
  // thread has no core (4 workers on fewer cores) is owed the Mutex only after
  // 50 us: meanwhile the others go on. So a few calls in a thousand may exceed
  // the bound; with no debt (barging alone) about one in a hundred does.
  CHECK(over.load() <= kFibers * kRounds / 400);
  CHECK(acquisitions.load() == long{kFibers} * kRounds);
}

TEST_CASE("Mutex: a cancelled locker leaves the mutex working and unowned") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "Mutex cancellation");
  weft::run(config(workers), [&] {
    weft::Mutex mu;
    weft::Event release;
    std::atomic<bool> waiting{false};
    mu.lock();
    auto victim = weft::spawn([&] {
      waiting = true;
      std::lock_guard<weft::Mutex> g(mu);
      FAIL("the cancelled fiber got the mutex");
    });
    REQUIRE(fiber_wait_until([&] { return waiting.load(); }, 10s));
    for (int i = 0; i < 10; ++i) weft::this_fiber::yield();  // let it park
    victim.cancel();
    CHECK(throws_cancelled([&] { victim.join(); }));
    // The holder's unlock must not hand the mutex to the departed waiter.
    mu.unlock();
    CHECK(mu.try_lock());
    mu.unlock();
    // And it still hands over to a real waiter.
    mu.lock();
    std::atomic<bool> got{false};
    auto next = weft::spawn([&] {
      std::lock_guard<weft::Mutex> g(mu);
      got = true;
    });
    for (int i = 0; i < 10; ++i) weft::this_fiber::yield();
    CHECK_FALSE(got.load());
    mu.unlock();
    next.join();
    CHECK(got.load());
    CHECK(mu.try_lock());
    mu.unlock();
  });
}

TEST_CASE("Mutex: a locker that timed out passes the hand-off to the next waiter") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "Mutex timeout hand-off");
  weft::run(config(workers), [&] {
    weft::Mutex mu;
    mu.lock();
    std::atomic<int> stage{0};
    auto quitter = weft::spawn([&] {
      stage = 1;
      CHECK_FALSE(mu.try_lock_for(20ms));
      stage = 2;
    });
    REQUIRE(fiber_wait_until([&] { return stage.load() == 1; }, 10s));
    auto stayer = weft::spawn([&] {
      mu.lock();
      mu.unlock();
    });
    quitter.join();
    CHECK(stage.load() == 2);
    mu.unlock();  // the stayer must get it, not the quitter's ghost
    stayer.join();
    CHECK(mu.try_lock());
    mu.unlock();
  });
}

TEST_CASE("Mutex: random give-ups under contention lose no lock") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "Mutex give-ups");
  constexpr int kFibers = 200, kIters = 20;
  weft::Mutex mu;
  long counter = 0;  // guarded by mu
  std::atomic<long> done{0}, gave_up{0};
  weft::run(config(workers), [&] {
    std::vector<weft::JoinHandle<void>> hs;
    for (int f = 0; f < kFibers; ++f) {
      hs.push_back(weft::spawn([&, f] {
        for (int i = 0; i < kIters; ++i) {
          if ((f + i) % 3 == 0) {
            // Deadlines short enough to expire in the queue, some already due.
            if (!mu.try_lock_for(std::chrono::microseconds((f * 37 + i * 11) % 300))) {
              ++gave_up;
              continue;
            }
          } else {
            mu.lock();
          }
          ++counter;
          if (i % 5 == 0) weft::this_fiber::yield();
          mu.unlock();
          ++done;
        }
      }));
    }
    for (auto& h : hs) h.join();
    CHECK(mu.try_lock());
    mu.unlock();
  });
  CHECK(counter == done.load());
  CHECK(done.load() + gave_up.load() == long{kFibers} * kIters);
}

TEST_CASE("Mutex: nested deadline scopes cut a lock wait short") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(60s, "Mutex deadline scopes");
  weft::run(config(workers), [&] {
    weft::Mutex mu;
    mu.lock();
    auto t0 = Clock::now();
    auto h = weft::spawn([&] {
      // The inner, later scope does not extend the outer one.
      weft::with_timeout(30ms, [&] {
        weft::with_timeout(10s, [&] {
          try {
            mu.lock();
            FAIL("locked a held mutex");
          } catch (const std::system_error& e) {
            CHECK(e.code() == std::errc::timed_out);
          }
          // The deadline forms report the scope's end as a timeout.
          CHECK_FALSE(mu.try_lock_for(10s));
          std::error_code ec;
          CHECK_FALSE(mu.lock(ec));
          CHECK(ec == std::errc::timed_out);
        });
      });
    });
    h.join();
    CAPTURE(ms_since(t0));
    CHECK(ms_since(t0) >= 30);
    CHECK(ms_since(t0) < 5'000);
    mu.unlock();
    CHECK(mu.try_lock());
    mu.unlock();
  });
}

TEST_CASE("Mutex: plain threads and fibers share one mutex") {
  SYNC_WORKER_SUBCASES(workers);
  Watchdog dog(120s, "Mutex threads and fibers");
  constexpr int kThreads = 2, kFibers = 50, kIters = 100;
  weft::Mutex mu;
  long counter = 0;  // guarded by mu
  weft::Runtime rt(config(workers));
  std::vector<weft::JoinHandle<void>> hs;
  for (int f = 0; f < kFibers; ++f) {
    hs.push_back(rt.spawn([&] {
      for (int i = 0; i < kIters; ++i) {
        std::lock_guard<weft::Mutex> g(mu);
        long v = counter;
        if (i % 10 == 0) weft::this_fiber::yield();
        counter = v + 1;
      }
    }));
  }
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < kIters * 5; ++i) {
        std::lock_guard<weft::Mutex> g(mu);
        ++counter;
      }
    });
  }
  for (auto& t : ts) t.join();
  for (auto& h : hs) h.join();
  rt.shutdown();
  CHECK(counter == long{kFibers} * kIters + long{kThreads} * kIters * 5);
}

TEST_CASE("Mutex: a plain thread's deadline scope cuts its lock wait short") {
  weft::Runtime rt(config(2));
  weft::Mutex mu;
  rt.spawn([&] { mu.lock(); }).join();
  auto t0 = Clock::now();
  weft::with_timeout(20ms, [&] {
    try {
      mu.lock();
      FAIL("locked a held mutex");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::timed_out);
    }
  });
  CHECK(ms_since(t0) >= 20);
  rt.spawn([&] { mu.unlock(); }).join();
  CHECK(mu.try_lock());
  mu.unlock();
  rt.shutdown();
}

TEST_CASE("Mutex: a cancelled fiber still takes a free mutex, and waits no more") {
  SYNC_WORKER_SUBCASES(workers);
  weft::run(config(workers), [&] {
    weft::Mutex mu, held;
    held.lock();
    auto h = weft::spawn([&] {
      std::stop_source stop;
      stop.request_stop();
      auto guard = weft::cancel_on(stop.get_token());  // cancels this fiber now
      REQUIRE(weft::this_fiber::cancelled());
      // A free mutex does not make it wait: taken, as cleanup code expects.
      mu.lock();
      mu.unlock();
      held.lock();  // would wait: a cancellation point
    });
    CHECK(throws_cancelled([&] { h.join(); }));
    held.unlock();
    CHECK(mu.try_lock());
    mu.unlock();
  });
}

TEST_CASE("Mutex: a plain thread times out, and is handed the mutex by a fiber") {
  weft::Runtime rt(config(2));
  weft::Mutex mu;
  auto holder = rt.spawn([&] { mu.lock(); });
  holder.join();
  CHECK_FALSE(mu.try_lock_for(20ms));
  std::atomic<bool> locking{false};
  std::thread t([&] {
    locking = true;
    mu.lock();
    mu.unlock();
  });
  auto unlocker = rt.spawn([&] {
    REQUIRE(fiber_wait_until([&] { return locking.load(); }, 10s));
    mu.unlock();
  });
  unlocker.join();
  t.join();
  CHECK(mu.try_lock());
  mu.unlock();
  rt.shutdown();
}

TEST_CASE("Mutex: unlocking a mutex that is not locked aborts with a clear message") {
  // In a child process: the abort is the behaviour under test.
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], 2);
    weft::Mutex mu;
    mu.unlock();
    ::_exit(0);  // not reached
  }
  ::close(fds[1]);
  std::string err;
  char buf[256];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) err.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
  CHECK(err.find("weft::Mutex::unlock() of a Mutex that is not locked") != std::string::npos);
}
