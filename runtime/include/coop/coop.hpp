// coop.hpp — everything, in the order to read it. Each file uses only those above it.
//
//   errors.hpp           CancelledError, TimeoutError, DeadlockError, UsageError
//   frame_allocator.hpp  where coroutine frames come from, and what they cost
//   task.hpp             Task<T>: a lazy coroutine; what co_await on it does
//   clock.hpp            coop::Clock
//   trace.hpp            (its two enums) what a task can wait on, how a task ends; (the rest,
//                        best read after loop.hpp) tracing hooks and diagnostics
//   detail/intrusive_list.hpp  the list whose links live in the elements
//   lowlevel.hpp         the kernel: Wait, WaitList, Timer, loop time, ThreadsafeCallback
//   loop.hpp             the event loop behind the kernel: tasks, ready queue, timers, cancel
//   sleep.hpp            sleep(): the smallest awaitable, the worked example of a Wait
//   task_handle.hpp      create_task() and TaskHandle<T>: running coroutines side by side
//   run.hpp              run(): the way in (asyncio.run)
//   join_all.hpp         waiting for a group of children, and cancelling them together
//   gather.hpp           gather(): concurrently, results in argument order
//   wait_for.hpp         wait_for(): a time limit
//   event.hpp            Event
//   lock.hpp             Lock
//   queue.hpp            Queue<T>
//   async_with.hpp       async_with(): `async with`, enter and exit may await
//   generator.hpp        AsyncGenerator<T>: `async for` and async generators
//   poller.hpp           how the loop sleeps, and how sockets wake it
//   thread_pool.hpp      ThreadPool, to_thread, run_in_executor: the blocking world
//   socket.hpp           TcpListener, TcpStream, open_connection
//   platform.hpp         (socket.cpp's) which Linux-only calls this build may use
#pragma once

#include "coop/errors.hpp"
#include "coop/frame_allocator.hpp"
#include "coop/task.hpp"
#include "coop/clock.hpp"
#include "coop/trace.hpp"
#include "coop/lowlevel.hpp"
#include "coop/loop.hpp"
#include "coop/sleep.hpp"
#include "coop/task_handle.hpp"
#include "coop/run.hpp"
#include "coop/join_all.hpp"
#include "coop/gather.hpp"
#include "coop/wait_for.hpp"
#include "coop/event.hpp"
#include "coop/lock.hpp"
#include "coop/queue.hpp"
#include "coop/async_with.hpp"
#include "coop/generator.hpp"
#include "coop/poller.hpp"
#include "coop/thread_pool.hpp"
#include "coop/socket.hpp"
