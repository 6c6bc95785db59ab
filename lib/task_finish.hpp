// The task side of join: finishing, joining, detaching, cancelling.
#pragma once

#include <boost/fiber/context.hpp>

#include <weft/detail/task.hpp>

namespace weft::detail {

// finish_task() publishes the outcome and wakes the joiner. On the fiber.
void finish_task(TaskBase* task) noexcept;

// join_as_main() waits for task as self, the main context of a thread that
// drives a current-thread runtime (RuntimeCore::join_driving): the thread
// runs fibers until the task has finished.
void join_as_main(TaskBase* task, boost::fibers::context* self) noexcept;

}  // namespace weft::detail
