// The weft side of the hook library's bridge (lib/hook/bridge.h): runtimes
// announce themselves here, and the first start hands the hook its table.
#pragma once

namespace weft::detail {

class RuntimeCore;

// bridge_runtime_created()/destroyed() keep the registry of live runtimes that
// forget() consults: a descriptor registered by a runtime that is gone needs
// no unregistering (its reactor went with it).
void bridge_runtime_created(RuntimeCore* rt) noexcept;
void bridge_runtime_destroyed(RuntimeCore* rt) noexcept;

// bridge_attach() offers the table to libweft_hook if it is in the process
// (linked or preloaded). Cheap after the first call.
void bridge_attach() noexcept;

}  // namespace weft::detail
