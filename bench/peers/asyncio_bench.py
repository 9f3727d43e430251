#!/usr/bin/python3
"""asyncio_bench: coop's core workloads written in plain asyncio, on asyncio's own loop or uvloop.

    /usr/bin/python3 bench/peers/asyncio_bench.py [--loop asyncio|uvloop] WORKLOAD [N]

A peer program for bench/compare.py (coop issue 6). It speaks the protocol every peer
speaks:

    spawn N        ns per task     N trivial tasks spawned, completed and gathered
    pingpong N     ns per switch   two tasks hand the turn to each other N times
    suspended N    B per task      RssAnon growth with N tasks parked on one Event, / N
    timers N       ns per timer    1000 tasks each sleeping N/1000 times for 1 ns
    echo-server    prints "PORT <n>" once listening on 127.0.0.1, then serves until killed

N defaults to the full size (spawn 100,000; pingpong 1,000,000; suspended 100,000;
timers 1,000,000). The timed workloads (spawn, pingpong, timers) first run once unmeasured,
in the same process (spawn at N, so its N tasks' memory is already the process's, as in
coop_bench; the others at N/10, which is enough to warm them), then once at N; suspended
runs once, with no warm-up, since memory freed by a warm-up would hide the growth it
measures. A measurement prints one JSON line on stdout, e.g.

    {"workload":"spawn","n":100000,"value":11234.5,"unit":"ns/task"}

with a "note" when something differs from coop's workload. Exit status: 0 done; 1 failed
(one line on stderr); 2 bad usage; 3 uvloop asked for but not installed (the driver skips
the peer). Run it with Debian's /usr/bin/python3: python3-uvloop is installed there.

Why each workload is the same as coop's in bench/core.cpp (the README there writes coop's
workloads as the asyncio programs below, so these are those programs, as a user writes them):

- spawn: `await asyncio.gather(*(f(i) for i in range(n)))` with `async def f(i): return i`,
  timed around asyncio.run, like coop's gather of n Task<int> timed around coop::run. Per
  task: a coroutine, a Task (gather wraps each one), one loop step, the completion reported
  to gather, the result collected; the sum is checked.
- pingpong: two tasks, one asyncio.Event each; each waits for its own, clears it and sets
  the other's, as coop's player(). Event.set() wakes the waiter through call_soon, so every
  turn is a full trip through the loop, as in coop.
- suspended: n tasks made with asyncio.create_task, all awaiting one Event. asyncio keeps
  only weak references to tasks, so the program must keep them itself (a list); coop's loop
  owns its tasks. The list is counted (8 bytes a task, see suspended_main).
- timers: asyncio.sleep(1e-9) sets a real timer (a TimerHandle on the loop's heap; sleep(0)
  would set none), due at once, so the loop never sleeps in the kernel, as coop's sleep(1ns).
  Not so on uvloop: see timers_main.
- echo-server: asyncio.start_server with streams, one task per connection reading up to
  1024 bytes and writing back what came, as coop's echo_connection with its 1 KiB buffer.
"""

import asyncio
import json
import resource
import sys
import time

PROG = "asyncio_bench"

# Full sizes, as coop_bench runs them.
DEFAULT_N = {"spawn": 100_000, "pingpong": 1_000_000, "suspended": 100_000, "timers": 1_000_000}
UNITS = {"spawn": "ns/task", "pingpong": "ns/switch", "suspended": "B/task", "timers": "ns/timer"}
TIMER_TASKS = 1000  # tasks taking turns at the timers, as in coop's timers workload


class Usage(Exception):
    """Bad command line: exit status 2."""


def rss_anon() -> float:
    """Anonymous resident memory in bytes (heap: where tasks and coroutines live)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return float(line.split()[1]) * 1024
    raise RuntimeError("cannot read RssAnon from /proc/self/status")


# ---- spawn + complete + gather ------------------------------------------------------------

async def f(i):
    return i


async def spawn_main(n):
    results = await asyncio.gather(*(f(i) for i in range(n)))
    return sum(results)


def spawn_once(n):
    """Nanoseconds per task; the clock runs around asyncio.run, loop creation included."""
    t0 = time.perf_counter_ns()
    total = asyncio.run(spawn_main(n))
    ns = time.perf_counter_ns() - t0
    if total != n * (n - 1) // 2:
        raise RuntimeError("spawn: wrong sum of results")
    return ns / n


# ---- ping-pong through Events --------------------------------------------------------------

async def player(my_turn, their_turn, rounds):
    for _ in range(rounds):
        await my_turn.wait()
        my_turn.clear()
        their_turn.set()


async def pingpong_main(rounds):
    ping, pong = asyncio.Event(), asyncio.Event()
    ping.set()  # the first player starts
    await asyncio.gather(player(ping, pong, rounds), player(pong, ping, rounds))


def pingpong_once(switches):
    """Nanoseconds per switch (two switches per round)."""
    rounds = switches // 2
    t0 = time.perf_counter_ns()
    asyncio.run(pingpong_main(rounds))
    return (time.perf_counter_ns() - t0) / (2 * rounds)


# ---- many suspended tasks ------------------------------------------------------------------

class Parked:
    """How many tasks are parked now: proof that all were, when memory was read."""
    count = 0


async def parked(go):
    Parked.count += 1
    await go.wait()
    Parked.count -= 1


async def suspended_main(n):
    go = asyncio.Event()
    rss0 = rss_anon()
    # asyncio holds tasks only weakly: an unreferenced task may be collected mid-flight, so
    # the program keeps them. This list costs 8 bytes a task (plus list slack), and it is
    # counted in the figure; coop's loop keeps its own tasks, which coop's figure counts.
    tasks = [asyncio.create_task(parked(go)) for _ in range(n)]
    await asyncio.sleep(0)  # one loop turn: every task has run to go.wait() and parked
    rss1 = rss_anon()
    if Parked.count != n:
        raise RuntimeError(f"suspended: {Parked.count} of {n} tasks parked")
    go.set()
    await asyncio.gather(*tasks)
    if Parked.count != 0:
        raise RuntimeError("suspended: not every task finished")
    return (rss1 - rss0) / n


# ---- timers set and fired ------------------------------------------------------------------

async def sleeper(count):
    for _ in range(count):
        await asyncio.sleep(1e-9)


async def timers_main(tasks, per_task):
    # On asyncio's loop each sleep is a TimerHandle pushed on the heap, due at once, popped
    # and fired. uvloop counts timers in whole milliseconds: call_later rounds the delay and
    # a delay of 0 ms becomes call_soon, so there no timer is set (noted in the output). A
    # delay uvloop would keep (>= 0.5 ms) really sleeps: a million of them would take
    # 1000 s, so the ordinary program is kept and the figure is flagged instead.
    await asyncio.gather(*(sleeper(per_task) for _ in range(tasks)))


def timer_shape(n):
    """(tasks, sleeps per task): 1000 tasks, fewer when n < 1000."""
    tasks = min(TIMER_TASKS, n)
    return tasks, n // tasks


def timers_once(n):
    """Nanoseconds per timer of the timers actually set."""
    tasks, per_task = timer_shape(n)
    t0 = time.perf_counter_ns()
    asyncio.run(timers_main(tasks, per_task))
    return (time.perf_counter_ns() - t0) / (tasks * per_task)


# ---- echo server ---------------------------------------------------------------------------

async def echo(reader, writer):
    try:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
    except OSError:  # a reset or a broken pipe (or any socket error) ends this connection, quietly
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


async def echo_server():
    server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=4096)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def raise_open_file_limit():
    """10,000 connections need 10,000 descriptors: the soft limit goes up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ---- command line --------------------------------------------------------------------------

USAGE = f"usage: {PROG} [--loop asyncio|uvloop] spawn|pingpong|suspended|timers [N] | echo-server"


def parse(argv):
    """(loop, workload, n or None)."""
    args = list(argv)
    loop = "asyncio"
    if args and args[0].startswith("--loop"):
        if args[0] == "--loop":
            if len(args) < 2:
                raise Usage("--loop needs a value: asyncio or uvloop")
            loop, args = args[1], args[2:]
        else:
            loop, args = args[0].partition("=")[2], args[1:]  # --loop=uvloop
        if loop not in ("asyncio", "uvloop"):
            raise Usage(f"unknown loop '{loop}' (asyncio or uvloop)")
    if not args:
        raise Usage(USAGE)
    workload, rest = args[0], args[1:]
    if workload == "echo-server":
        if rest:
            raise Usage("echo-server takes no N")
        return loop, workload, None
    if workload not in DEFAULT_N:
        raise Usage(f"unknown workload '{workload}'; {USAGE}")
    if len(rest) > 1:
        raise Usage(USAGE)
    n = DEFAULT_N[workload]
    if rest:
        try:
            n = int(rest[0])
        except ValueError:
            raise Usage(f"bad N '{rest[0]}': a positive integer") from None
        if n < (2 if workload == "pingpong" else 1):
            raise Usage(f"bad N '{rest[0]}': too small for {workload}")
    return loop, workload, n


def measure(loop, workload, n):
    """The result line's fields for one workload."""
    note = None
    if workload == "spawn":
        spawn_once(n)  # warm-up at full size: the memory of N tasks, faulted in once
        value = spawn_once(n)
    elif workload == "pingpong":
        n -= n % 2  # whole rounds
        pingpong_once(max(2, n // 10))
        value = pingpong_once(n)
    elif workload == "suspended":
        value = asyncio.run(suspended_main(n))
    else:
        tasks, per_task = timer_shape(n)
        n = tasks * per_task
        timers_once(max(1, n // 10))
        value = timers_once(n)
        if loop == "uvloop":
            note = "uvloop rounds delays to whole ms: sleep(1e-9) is call_soon, no timer is set"
    result = {"workload": workload, "n": n, "value": round(value, 1), "unit": UNITS[workload]}
    if note:
        result["note"] = note
    return result


def main(argv):
    try:
        loop, workload, n = parse(argv)
    except Usage as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print(f"{PROG}: uvloop is not installed (Debian: apt-get install python3-uvloop)", file=sys.stderr)
            return 3
        uvloop.install()  # Python 3.11: asyncio.run takes no loop_factory; the policy decides
    try:
        if workload == "echo-server":
            raise_open_file_limit()
            asyncio.run(echo_server())
            return 0
        print(json.dumps(measure(loop, workload, n), separators=(",", ":")), flush=True)
        return 0
    except Exception as e:  # one line, whatever went wrong
        print(f"{PROG}: {workload}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
