// std::stop_token interop: the stop callback cancels a fiber through its
// record, which lives on the fiber's own stack as long as the fiber does; the
// CancelOnStop that holds the callback lives on that stack too and
// unregisters it (waiting for a running callback) before the fiber can end.
#include <weft/sync/stop.hpp>

#include "../fiber_record.hpp"
#include "../wait.hpp"
#include "../worker.hpp"

namespace weft::detail {

void* current_fiber_for_cancel() noexcept { return current_worker() ? current_record() : nullptr; }

void cancel_fiber(void* fiber) noexcept { cancel(static_cast<FiberRecord*>(fiber)); }

}  // namespace weft::detail
