// node_bench.mjs — the Node.js peer of coop_bench (bench/core.cpp) for bench/compare.py.
//
// The same workloads as coop's, written with async functions and await, as a Node
// programmer writes them: Promise.all, a promise resolved by the other side, setTimeout from
// node:timers/promises, net.createServer with the socket read by `for await`. One thread
// runs JavaScript, as coop's one loop runs its tasks.
//
//   node bench/peers/node_bench.mjs spawn N | pingpong N | suspended N | timers N | echo-server
//
// Why each workload is the equivalent of coop's:
//   spawn      coop gathers N Task<int> that co_return at once; here
//              `await Promise.all(Array.from({ length: n }, (_, i) => f(i)))` with
//              `async function f(i) { return i }`.
//              Per task: an async function's promise made, settled, its result collected
//              by Promise.all; the sum is checked. Timed around the whole, as coop::run.
//   pingpong   coop's two players loop "wait my Event, clear it, set theirs". Node has no
//              Event; the idiom is a promise whose resolve the other side calls (Event
//              below, a dozen lines). Resolving queues the waiter's continuation as a
//              microtask: V8's microtask queue is Node's ready queue, so every switch is
//              one function parking and the other resuming, as in coop, without a trip
//              through libuv (there is nothing for libuv to do).
//   suspended  coop parks N create_task'ed tasks on one Event. Here N async functions all
//              await ONE promise; the program keeps their N promises in an array, as the
//              asyncio peer keeps its tasks (8 bytes each, counted). The growth of RssAnon,
//              / N, is what a suspended async function costs: its generator-like context,
//              its promise and the reaction registered on the awaited one.
//   timers     coop: 1,000 tasks x N/1,000 sleep(1ns). Here 1,000 async functions each
//              awaiting setTimeout(1e-6) N/1,000 times. Node clamps every delay to at least
//              1 ms, so each sleep really sleeps ~1 ms: the wall-clock figure is bounded by
//              the clock, not the runtime (the note gives the CPU time per timer, which is
//              the runtime's cost). Not comparable, said so in the output.
//   echo-server  net.createServer; one async function per connection reading the socket
//              with `for await (const chunk of socket)` and writing back what came (awaiting
//              'drain' when the socket's buffer is full), as coop's echo_connection and the
//              asyncio peer's streams.
//
// Timed workloads run once unmeasured first (warm-up: V8's JIT, the heap; spawn at N, the
// others at N/10), then at N; suspended runs once, cold. Output: one JSON line on stdout.
// Failure: one line on stderr, exit 1; bad usage: exit 2.

import { readFileSync } from "node:fs";
import { once } from "node:events";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

const PROG = "node_bench";
const DEFAULT_N = { spawn: 100_000, pingpong: 1_000_000, suspended: 100_000, timers: 1_000_000 };
const UNITS = { spawn: "ns/task", pingpong: "ns/switch", suspended: "B/task", timers: "ns/timer" };
const TIMER_TASKS = 1000; // async functions taking turns at the timers, as in coop's workload

const now = () => process.hrtime.bigint(); // nanoseconds

// Anonymous resident memory in bytes (V8's heap lives there), from /proc; where there is
// none (macOS), the peak resident size, whose growth is the same thing for a workload that
// only grows.
function rssAnon() {
  try {
    const m = /^RssAnon:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // no /proc
  }
  return process.resourceUsage().maxRSS * 1024;
}

// ---- spawn + complete + gather --------------------------------------------------------------

async function f(i) {
  return i;
}

async function spawnOnce(n) {
  const t0 = now();
  const results = await Promise.all(Array.from({ length: n }, (_, i) => f(i)));
  const ns = Number(now() - t0);
  let sum = 0;
  for (const r of results) sum += r;
  if (sum !== (n * (n - 1)) / 2) throw new Error("spawn: wrong sum of results");
  return ns / n;
}

// ---- ping-pong through Events ---------------------------------------------------------------

// asyncio.Event in a dozen lines: wait() returns a promise that set() resolves.
class Event {
  constructor() {
    this.clear();
  }
  clear() {
    this.isSet = false;
    this.promise = new Promise((resolve) => (this.resolve = resolve));
  }
  set() {
    this.isSet = true;
    this.resolve();
  }
  wait() {
    return this.isSet ? undefined : this.promise;
  }
}

async function player(myTurn, theirTurn, rounds) {
  for (let r = 0; r < rounds; r++) {
    await myTurn.wait();
    myTurn.clear();
    theirTurn.set();
  }
}

async function pingpongOnce(switches) {
  const rounds = Math.floor(switches / 2);
  const ping = new Event();
  const pong = new Event();
  ping.set(); // the first player starts
  const t0 = now();
  await Promise.all([player(ping, pong, rounds), player(pong, ping, rounds)]);
  return Number(now() - t0) / (2 * rounds);
}

// ---- many suspended async functions ---------------------------------------------------------

async function suspended(n) {
  const go = new Event();
  let parked = 0;
  const waiter = async () => {
    parked++;
    await go.wait();
    parked--;
  };
  const rss0 = rssAnon();
  const waiting = [];
  for (let i = 0; i < n; i++) waiting.push(waiter()); // each runs to its await at once
  const rss1 = rssAnon();
  if (parked !== n) throw new Error(`suspended: ${parked} of ${n} parked`);
  go.set();
  await Promise.all(waiting);
  if (parked !== 0) throw new Error("suspended: not every async function finished");
  return (rss1 - rss0) / n;
}

// ---- timers set and fired -------------------------------------------------------------------

function timerShape(n) {
  const tasks = Math.min(TIMER_TASKS, n);
  return [tasks, Math.floor(n / tasks)];
}

async function sleeper(count) {
  for (let i = 0; i < count; i++) await sleep(1e-6); // 1 ns, in ms; Node makes it 1 ms
}

// [wall ns per timer, CPU ns per timer]
async function timersOnce(n) {
  const [tasks, perTask] = timerShape(n);
  const cpu0 = process.cpuUsage();
  const t0 = now();
  await Promise.all(Array.from({ length: tasks }, () => sleeper(perTask)));
  const wall = Number(now() - t0);
  const cpu = process.cpuUsage(cpu0);
  return [wall / (tasks * perTask), ((cpu.user + cpu.system) * 1000) / (tasks * perTask)];
}

// ---- echo server ----------------------------------------------------------------------------

async function echo(socket) {
  try {
    for await (const chunk of socket) {
      if (!socket.write(chunk)) await once(socket, "drain");
    }
  } catch {
    // a reset or a broken pipe ends this connection, quietly
  } finally {
    socket.destroy();
  }
}

async function echoServer() {
  // Node cannot raise its own open-files limit; compare.py raises it before starting us.
  const server = net.createServer({ noDelay: true }, (socket) => void echo(socket));
  server.on("error", (e) => {
    if (e.code !== "EMFILE") throw e; // out of descriptors for a moment: libuv retries
  });
  server.listen({ host: "127.0.0.1", port: 0, backlog: 4096 });
  await once(server, "listening");
  process.stdout.write(`PORT ${server.address().port}\n`);
  await new Promise(() => {}); // serve until killed
}

// ---- command line ---------------------------------------------------------------------------

const USAGE = `usage: ${PROG} spawn|pingpong|suspended|timers [N] | echo-server`;

class Usage extends Error {}

function parse(args) {
  if (args.length === 0) throw new Usage(USAGE);
  const [workload, ...rest] = args;
  if (workload === "echo-server") {
    if (rest.length) throw new Usage("echo-server takes no N");
    return [workload, 0];
  }
  if (!(workload in DEFAULT_N)) throw new Usage(`unknown workload '${workload}'; ${USAGE}`);
  if (rest.length > 1) throw new Usage(USAGE);
  let n = DEFAULT_N[workload];
  if (rest.length) {
    const least = workload === "pingpong" ? 2 : 1;
    if (!/^\d+$/.test(rest[0]) || Number(rest[0]) < least)
      throw new Usage(`bad N '${rest[0]}': a positive integer, at least ${least} for ${workload}`);
    n = Number(rest[0]);
  }
  return [workload, n];
}

async function measure(workload, n) {
  let value;
  let note;
  if (workload === "spawn") {
    await spawnOnce(n); // warm-up at full size
    value = await spawnOnce(n);
  } else if (workload === "pingpong") {
    n -= n % 2; // whole rounds
    await pingpongOnce(Math.max(2, Math.floor(n / 10)));
    value = await pingpongOnce(n);
  } else if (workload === "suspended") {
    value = await suspended(n);
  } else {
    const [tasks, perTask] = timerShape(n);
    n = tasks * perTask;
    await timersOnce(Math.max(1, Math.floor(n / 10)));
    const [wall, cpu] = await timersOnce(n);
    value = wall;
    note = `Node clamps delays to >= 1 ms: wall time is mostly sleeping, not comparable; CPU ${cpu.toFixed(0)} ns/timer`;
  }
  const result = { workload, n, value: Math.round(value * 10) / 10, unit: UNITS[workload] };
  if (note) result.note = note;
  return result;
}

async function main(argv) {
  let workload, n;
  try {
    [workload, n] = parse(argv);
  } catch (e) {
    process.stderr.write(`${PROG}: ${e.message}\n`);
    return 2;
  }
  try {
    if (workload === "echo-server") {
      await echoServer();
    } else {
      process.stdout.write(JSON.stringify(await measure(workload, n)) + "\n");
    }
    return 0;
  } catch (e) {
    process.stderr.write(`${PROG}: ${workload}: ${e.message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
