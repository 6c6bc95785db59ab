// See cpu_plan.hpp.
#include "cpu_plan.hpp"

#include <pthread.h>

#include <algorithm>
#include <thread>

namespace weft::detail {

void CpuPlan::plan(bool pin, unsigned nworkers) noexcept {
  CPU_ZERO(&allowed_);
  const bool known = sched_getaffinity(0, sizeof allowed_, &allowed_) == 0 && CPU_COUNT(&allowed_) > 0;
  usable_ = known ? static_cast<unsigned>(CPU_COUNT(&allowed_)) : std::max(1u, std::thread::hardware_concurrency());
  pin_ = pin && known;
  helpers_ = allowed_;
  if (!pin_) return;
  for (unsigned i = 0; i < std::min(nworkers, usable_); ++i) {
    const int cpu = cpu_of(i);
    if (cpu >= 0) CPU_CLR(cpu, &helpers_);
  }
  // Workers took every CPU: helpers share them all rather than none.
  if (CPU_COUNT(&helpers_) == 0) helpers_ = allowed_;
}

int CpuPlan::cpu_of(unsigned index) const noexcept {
  unsigned nth = index % usable_;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed_) && nth-- == 0) return cpu;
  }
  return -1;
}

void CpuPlan::pin_worker(unsigned index) const noexcept {
  if (!pin_) return;
  const int cpu = cpu_of(index);
  if (cpu < 0) return;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  // A refusal (a cgroup's cpuset changed since) leaves the thread unpinned.
  pthread_setaffinity_np(pthread_self(), sizeof one, &one);
}

void CpuPlan::place_helper() const noexcept {
  if (!pin_) return;
  pthread_setaffinity_np(pthread_self(), sizeof helpers_, &helpers_);
}

}  // namespace weft::detail
