// build_fiber(): a new fiber on a pooled stack, its record at the top.
#pragma once

#include <cstddef>

#include <weft/detail/task.hpp>

namespace weft::detail {

class FiberRecord;
class RuntimeCore;
class Worker;

// build_fiber() makes a fiber that runs rec->task when first resumed, then
// keeps running the tasks later spawns give it (Worker::park_spare); its
// context is attached to no scheduler yet. task may be null for a fiber built
// ahead of its spawn, which begin_task() readies. pinned: the worker a
// spawn_local fiber stays on. stack_size 0 is the pool's default. on: the
// worker building it, whose stack cache serves it (null off the workers).
// Throws what StackPool::acquire() throws.
FiberRecord* build_fiber(RuntimeCore* rt, TaskBase* task, Worker* pinned, std::size_t stack_size, Worker* on);

}  // namespace weft::detail
