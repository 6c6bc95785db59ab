// weft::Runtime: the public face of RuntimeCore.
#include <weft/runtime.hpp>

#include "runtime_core.hpp"

namespace weft {

Runtime::Runtime(Config config) : core_(std::make_unique<detail::RuntimeCore>(std::move(config))) {}

Runtime::~Runtime() { core_->shutdown(); }

void Runtime::start() { core_->start(); }

void Runtime::bind_caller() { core_->bind_caller(); }

void Runtime::shutdown() { core_->shutdown(); }

bool Runtime::running() const noexcept { return core_->running(); }

const Config& Runtime::config() const noexcept { return core_->cfg; }

unsigned Runtime::worker_threads() const noexcept { return core_->nworkers; }

RuntimeStats Runtime::stats() const noexcept { return core_->stats(); }

}  // namespace weft
