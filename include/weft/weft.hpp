// weft: a runtime of stackful green threads. This header brings in all of it.
#pragma once

#include <weft/async.hpp>
#include <weft/config.hpp>
#include <weft/deadline.hpp>
#include <weft/errors.hpp>
#include <weft/runtime.hpp>
#include <weft/scope.hpp>
#include <weft/spawn.hpp>
#include <weft/sync.hpp>
#include <weft/this_fiber.hpp>
#include <weft/timer.hpp>
#include <weft/unblock.hpp>
#include <weft/net.hpp>
#include <weft/fs.hpp>
#include <weft/process.hpp>
#include <weft/signals.hpp>
#include <weft/channel.hpp>
#include <weft/select.hpp>
#include <weft/oneshot.hpp>
