// Threads start when a job finds no idle thread (up to the bound) and leave
// after keep_alive without work. An exiting thread cannot join itself, so it
// moves its std::thread to exited_, which the next submit() or stop() joins.
#include "blocking_pool.hpp"

#include <pthread.h>

#include <system_error>

#include "cpu_plan.hpp"
#include "log.hpp"

namespace weft::detail {

BlockingPool::~BlockingPool() { stop(); }

void BlockingPool::configure(unsigned max_threads, std::chrono::milliseconds keep_alive, std::string name,
                             const CpuPlan& cpus) {
  max_threads_ = max_threads;
  keep_alive_ = keep_alive;
  name_ = std::move(name);
  cpus_ = &cpus;
}

void BlockingPool::reap_locked(std::unique_lock<std::mutex>& lk) noexcept {
  while (!exited_.empty()) {
    std::list<std::thread> done;
    done.splice(done.begin(), exited_);
    lk.unlock();
    for (auto& t : done) t.join();
    lk.lock();
  }
}

void BlockingPool::submit(BlockingJob* job) {
  std::unique_lock<std::mutex> lk(mu_);
  stopping_ = false;
  jobs_.push_back(job);
  if (idle_ > 0) {
    cv_.notify_one();
    return;
  }
  if (alive_ < max_threads_) {
    threads_.emplace_back();
    auto it = std::prev(threads_.end());
    try {
      *it = std::thread([this, it] { thread_main(it); });
      ++alive_;
    } catch (const std::system_error& e) {
      threads_.erase(it);
      if (alive_ == 0) {
        jobs_.pop_back();
        throw;
      }
      // Others will get to the job.
      logger().warn("blocking pool: cannot start a thread ({}); job queued", e.what());
    }
  }
  reap_locked(lk);
}

void BlockingPool::thread_main(std::list<std::thread>::iterator self) noexcept {
  // Started from whichever thread submitted: a pinned worker's CPU is not ours.
  cpus_->place_helper();
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    if (jobs_.empty()) {
      if (stopping_) break;
      ++idle_;
      bool got = cv_.wait_for(lk, keep_alive_, [this] { return !jobs_.empty() || stopping_; });
      --idle_;
      if (!got) break;  // kept alive long enough without work
      continue;
    }
    BlockingJob* job = jobs_.front();
    jobs_.pop_front();
    lk.unlock();
    job->fn(job->arg);
    job->done(job);
    lk.lock();
  }
  --alive_;
  exited_.splice(exited_.end(), threads_, self);
  exit_cv_.notify_all();
}

void BlockingPool::stop() noexcept {
  std::unique_lock<std::mutex> lk(mu_);
  stopping_ = true;
  cv_.notify_all();
  exit_cv_.wait(lk, [this] { return alive_ == 0; });
  reap_locked(lk);
}

unsigned BlockingPool::threads() noexcept {
  std::lock_guard<std::mutex> lk(mu_);
  return alive_;
}

}  // namespace weft::detail
