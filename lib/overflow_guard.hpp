// Stack-overflow reporting: a SIGSEGV handler, run on an alternate signal stack,
// that names the fiber whose guard page was hit.
#pragma once

#include <cstddef>

namespace weft::detail {

// install_overflow_handler() installs the handler once per process. Faults it
// does not recognise go to the handler that was there before (or the default).
void install_overflow_handler();

// AltStack gives the calling thread an alternate signal stack for its life.
class AltStack {
 public:
  AltStack() noexcept;
  ~AltStack();
  AltStack(const AltStack&) = delete;
  AltStack& operator=(const AltStack&) = delete;

 private:
  void* mem_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace weft::detail
