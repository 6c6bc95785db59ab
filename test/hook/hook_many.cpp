// Many fibers blocked in hooked calls at once: far more fibers than worker
// threads sit in read(), accept() and nanosleep() together, which is only
// possible if each call parked its fiber rather than its thread. The answer
// comes only once every fiber is inside its call.
#include <time.h>

#include <set>
#include <vector>

#include "support.hpp"

using namespace hook_test;

namespace {

constexpr int kFibers = 100;

// ThreadSet collects the threads fibers ran on.
struct ThreadSet {
  std::mutex mu;
  std::set<std::thread::id> ids;
  void add() {
    std::lock_guard<std::mutex> g(mu);
    ids.insert(std::this_thread::get_id());
  }
};

}  // namespace

TEST_CASE("100 fibers block in read at once and are answered after all are inside") {
  for_each_workers([](const Env& env) {
    std::vector<FdPair> pairs;
    for (int i = 0; i < kFibers; ++i) pairs.push_back(unix_pair(SOCK_STREAM));
    std::atomic<int> inside{0}, right{0};
    ThreadSet threads;
    std::vector<weft::JoinHandle<void>> readers;
    for (int i = 0; i < kFibers; ++i) {
      readers.push_back(weft::spawn([&, i] {
        char c = 0;
        inside.fetch_add(1);
        ssize_t n = ::read(pairs[i].a.get(), &c, 1);
        threads.add();
        if (n == 1 && c == static_cast<char>('0' + i % 10)) right.fetch_add(1);
      }));
    }
    // A reader that blocked its thread would keep the others from starting.
    bool all_inside = fiber_wait_until([&] { return inside.load() == kFibers; });
    CHECK_MESSAGE(all_inside, "only " << inside.load() << " of " << kFibers << " readers got into read()");
    for (int i = 0; i < kFibers; ++i) {
      char c = static_cast<char>('0' + i % 10);
      CHECK(::write(pairs[i].b.get(), &c, 1) == 1);
    }
    for (auto& r : readers) r.join();
    CHECK(right.load() == kFibers);
    // Spare threads that take over a stuck worker would show up here.
    CHECK(threads.ids.size() <= env.workers);
  });
}

TEST_CASE("100 fibers wait in accept and connect at once") {
  for_each_workers([](const Env&) {
    std::vector<Fd> listeners;
    for (int i = 0; i < kFibers; ++i) listeners.push_back(tcp_listener());
    std::atomic<int> inside{0}, accepted{0};
    std::vector<weft::JoinHandle<void>> acceptors;
    for (int i = 0; i < kFibers; ++i) {
      acceptors.push_back(weft::spawn([&, i] {
        inside.fetch_add(1);
        Fd s(::accept(listeners[i].get(), nullptr, nullptr));
        if (s) accepted.fetch_add(1);
      }));
    }
    CHECK(fiber_wait_until([&] { return inside.load() == kFibers; }));
    std::vector<Fd> clients;
    for (int i = 0; i < kFibers; ++i) {
      clients.push_back(tcp_socket());
      CHECK(connect_to(clients.back().get(), local_addr(listeners[i].get())) == 0);
    }
    for (auto& a : acceptors) a.join();
    CHECK(accepted.load() == kFibers);
  });
}

TEST_CASE("100 fibers sleeping 200 ms in nanosleep take about 200 ms together") {
  for_each_workers([](const Env&) {
    auto t0 = Clock::now();
    std::atomic<int> slept{0};
    std::vector<weft::JoinHandle<void>> sleepers;
    for (int i = 0; i < kFibers; ++i) {
      sleepers.push_back(weft::spawn([&] {
        timespec ts{0, 200'000'000};
        if (::nanosleep(&ts, nullptr) == 0) slept.fetch_add(1);
      }));
    }
    for (auto& s : sleepers) s.join();
    auto ms = ms_since(t0);
    CHECK(slept.load() == kFibers);
    CHECK(ms >= 200);
    // Sleeping threads, one after another, would take 100 x 200 ms / workers.
    CHECK_MESSAGE(ms < 3000, "took " << ms << " ms");
  });
}
