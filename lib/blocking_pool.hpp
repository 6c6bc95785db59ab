// BlockingPool: threads that run blocking jobs for unblock(), so a fiber's
// worker keeps running other fibers. Threads start on demand up to a bound and
// leave after a keep-alive without work (as Tokio's blocking pool).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <list>
#include <mutex>
#include <string>
#include <thread>

namespace weft::detail {

class CpuPlan;

// BlockingJob is owned by the submitter and must outlive its completion.
struct BlockingJob {
  void (*fn)(void*) noexcept;
  void* arg;
  // done() is called on the pool thread once fn has returned.
  void (*done)(BlockingJob*) noexcept;
};

class BlockingPool {
 public:
  BlockingPool() = default;
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // configure() sets the bound, the keep-alive, the threads' name and the
  // plan that places them (it must outlive the pool).
  void configure(unsigned max_threads, std::chrono::milliseconds keep_alive, std::string name, const CpuPlan& cpus);

  // submit() queues job; a thread is started if none is idle and the bound
  // allows. Throws std::system_error if no thread can be made and none exists.
  void submit(BlockingJob* job);

  // stop() waits for queued jobs to finish and joins every thread.
  void stop() noexcept;

  unsigned threads() noexcept;

 private:
  void thread_main(std::list<std::thread>::iterator self) noexcept;
  void reap_locked(std::unique_lock<std::mutex>& lk) noexcept;

  unsigned max_threads_ = 64;
  std::chrono::milliseconds keep_alive_{10'000};
  std::string name_;
  const CpuPlan* cpus_ = nullptr;  // set by configure()

  std::mutex mu_;
  std::condition_variable cv_;       // jobs arrived, or stopping
  std::condition_variable exit_cv_;  // a thread exited
  std::deque<BlockingJob*> jobs_;
  std::list<std::thread> threads_;   // running threads
  std::list<std::thread> exited_;    // finished threads not yet joined
  unsigned idle_ = 0;
  unsigned alive_ = 0;
  bool stopping_ = false;
};

// submit_owned() runs a job that owns itself (its done() frees it) where the
// caller would wait for it: on the blocking pool of the calling fiber's
// runtime, or on a thread of its own when the caller is no fiber. The caller
// need not wait: a job whose waiter gave up still runs to its end. Throws
// std::system_error when no thread can be had; the job is then not run.
void submit_owned(BlockingJob* job);

}  // namespace weft::detail
