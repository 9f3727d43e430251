// coop.hpp — everything, in the order to read it.
//
//   task.hpp         Task<T>: a lazy coroutine; what co_await on it does
//   clock.hpp        coop::Clock
//   trace.hpp        (its two enums) what a task can wait on, how a task ends
//   loop.hpp         the event loop and the one door every suspension goes through
//   sleep.hpp        sleep(): the smallest awaitable, the worked example of a Wait
//   task_handle.hpp  create_task() and TaskHandle<T>: running coroutines side by side
//   run.hpp          run(): the way in (asyncio.run)
//   join_all.hpp     waiting for a group of children, and cancelling them together
//   gather.hpp       gather(): concurrently, results in argument order
//   wait_for.hpp     wait_for(): a time limit
//   event.hpp        Event
//   lock.hpp         Lock
//   queue.hpp        Queue<T>
//   async_with.hpp   async_with(): `async with`, enter and exit may await
//   generator.hpp    AsyncGenerator<T>: `async for` and async generators
//   poller.hpp       how the loop sleeps, and how sockets and threads wake it
//   thread_pool.hpp  ThreadPool, to_thread, run_in_executor: the blocking world
//   socket.hpp       TcpListener, TcpStream, open_connection
//   trace.hpp        (the rest) watching the loop: tracing hooks, diagnostics
//   frame_allocator.hpp  where coroutine frames come from
//   errors.hpp       CancelledError, TimeoutError, DeadlockError, UsageError
#pragma once

#include "coop/clock.hpp"
#include "coop/async_with.hpp"
#include "coop/errors.hpp"
#include "coop/event.hpp"
#include "coop/frame_allocator.hpp"
#include "coop/gather.hpp"
#include "coop/generator.hpp"
#include "coop/join_all.hpp"
#include "coop/lock.hpp"
#include "coop/loop.hpp"
#include "coop/queue.hpp"
#include "coop/run.hpp"
#include "coop/poller.hpp"
#include "coop/sleep.hpp"
#include "coop/socket.hpp"
#include "coop/task.hpp"
#include "coop/task_handle.hpp"
#include "coop/thread_pool.hpp"
#include "coop/trace.hpp"
#include "coop/wait_for.hpp"
