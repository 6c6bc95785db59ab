// The process-wide record of the signals that weft::Signals objects watch,
// for threads the runtime starts. Internal to the library.
#pragma once

namespace weft::detail {

// block_watched_signals() blocks, in the calling thread, every signal that a
// live Signals object watches or block_signals() blocked. A thread that calls
// it first thing never needs the forwarding handler (see signals.hpp).
void block_watched_signals() noexcept;

// block_all_signals() blocks every signal that may be blocked, in the calling
// thread: for internal threads that must never take a process signal.
void block_all_signals() noexcept;

}  // namespace weft::detail
