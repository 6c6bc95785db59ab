// CpuPlan: which CPUs a runtime's threads may run on.
//
// A thread starts with the CPU affinity of the thread that starts it, and the
// runtime's helper threads (the blocking pool's, the stack preparer) start on
// demand from worker threads. On a runtime with pinned workers they would
// inherit one worker's single CPU and take turns with it there, while the
// cores no worker was given stay idle: a burst of 100k sleeping fibers on one
// pinned worker took a fifth longer (245 ms against 200), its preparer
// faulting stacks on the worker's own core. So the plan is made once, from
// the CPUs of the thread that builds the runtime: pinned worker i takes the
// i-th of them (modulo their count), and helpers run on those no pinned worker
// took, or on all of them when the workers took every one. Without pinning
// nothing is changed: every thread keeps the affinity it inherits.
#pragma once

#include <sched.h>

namespace weft::detail {

class CpuPlan {
 public:
  // plan() reads the calling thread's CPUs; pin: Config::pin_workers().
  void plan(bool pin, unsigned nworkers) noexcept;

  // usable() counts the CPUs the runtime was built with (at least 1).
  unsigned usable() const noexcept { return usable_; }

  // pin_worker() binds the calling thread to worker index's CPU, when
  // workers are pinned.
  void pin_worker(unsigned index) const noexcept;

  // place_helper() moves the calling helper thread to the helpers' CPUs,
  // when workers are pinned.
  void place_helper() const noexcept;

 private:
  // cpu_of() is the CPU pinned worker index takes, or -1 if unknown.
  int cpu_of(unsigned index) const noexcept;

  cpu_set_t allowed_{};
  cpu_set_t helpers_{};
  unsigned usable_ = 1;
  bool pin_ = false;  // pinning asked for, and allowed_ could be read
};

}  // namespace weft::detail
