// weft::sync: synchronization for fibers that parks the fiber, never its
// worker thread. Every primitive also works from plain threads (which then
// block), every waiting call is a cancellation point and honours deadline
// scopes, and a waiter that gives up leaves no trace.
#pragma once

#include <weft/sync/barrier.hpp>
#include <weft/sync/condvar.hpp>
#include <weft/sync/event.hpp>
#include <weft/sync/latch.hpp>
#include <weft/sync/mutex.hpp>
#include <weft/sync/semaphore.hpp>
#include <weft/sync/shared_mutex.hpp>
#include <weft/sync/stop.hpp>
#include <weft/sync/task_group.hpp>
