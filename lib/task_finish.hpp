// The task side of join: finishing, joining, detaching, cancelling.
#pragma once

#include <weft/detail/task.hpp>

namespace weft::detail {

// finish_task() publishes the outcome and wakes the joiner. On the fiber.
void finish_task(TaskBase* task) noexcept;

}  // namespace weft::detail
