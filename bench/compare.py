#!/usr/bin/env python3
"""compare.py — coop side by side with the systems a programmer would use instead.

    python3 bench/compare.py [--quick] [--repeat R] [--only W,W] [--systems S,S] [--json]
                             [--bin DIR]

`make bench` runs it after coop_bench. The same workloads run on every system, on this
machine, in this run, interleaved (repetition 1 of every system, then repetition 2, ...) so
that a noisy minute hurts them all alike; each figure is the median of the repetitions.

Systems (the programs are in bench/peers/ and bench/core.cpp; bench/README.md says why each
workload is the same work on each of them):

    coop      this runtime, -O2                        build-bench/bench/coop_bench --peer
    asyncio   Python's asyncio (the lecture's own)     bench/peers/asyncio_bench.py
    uvloop    asyncio on uvloop (libuv)                bench/peers/asyncio_bench.py --loop uvloop
    asio      Boost.Asio, C++20 co_spawn/awaitable     build-bench/bench/asio_bench
    threads   one OS thread per task / connection      build-bench/bench/threads_bench
    go1       Go, goroutines, GOMAXPROCS=1             build-bench/bench/go_bench (bench/peers/go_bench.go)
    goN       Go, goroutines, GOMAXPROCS=cores         the same program
    node      Node.js, async functions and await       bench/peers/node_bench.mjs

Every program speaks one protocol: `PROG WORKLOAD N` prints one JSON line
{"workload", "n", "value", "unit"[, "note"]}; `PROG echo-server` prints "PORT n" and serves
until killed, and this script loads it with bench/echo_client (one client for every
server) while it samples the server's memory and CPU from /proc. Echo is reported by
requests per second of the server's CPU time first, raw requests per second after it: on a
machine of few cores client and server share them, and the raw figure is bounded by the
client as much as by the server. A peer that is not
installed is skipped with the line that installs it. A peer that fails is reported and
makes the exit status 1; targets that are missed are marked but do not (a benchmark
reports, it does not gate).
"""
import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# name, what is measured, unit, whether lower is better
WORKLOADS = {
    "spawn": ("spawn + complete + gather of {n:,} tasks", "ns/task", True),
    "pingpong": ("ping-pong between two tasks, {n:,} switches", "ns/switch", True),
    "suspended": ("resident memory per parked task, {n:,} parked at once", "B/task", True),
    "timers": ("{n:,} timers set and fired (1,000 tasks)", "ns/timer", True),
    # Echo's figure is requests per second of the server's CPU time (its raw requests per
    # second are printed beside it): see echo() and bench/README.md.
    "echo100": ("TCP echo on loopback, 64-byte messages, {n:,} connections", "req/CPU-s", False),
    "echo10k": ("TCP echo on loopback, 64-byte messages, {n:,} connections", "req/CPU-s", False),
}
# coop_bench's workloads that have no peer here: accepted by --only (make bench passes the
# same ARGS to both programs) and skipped.
COOP_ONLY = {"sleeping", "to_thread"}

# The targets: coop's advantage over a peer must be at least this (for lower-is-
# better figures, peer / coop; for requests per second, coop / peer).
TARGETS = {
    ("spawn", "asyncio"): 100.0,
    ("spawn", "asio"): 1.0,
    ("pingpong", "asyncio"): 50.0,
    ("suspended", "asyncio"): 4.0,
    ("suspended", "threads"): 30.0,
    ("echo100", "asyncio"): 3.0,
    ("echo100", "uvloop"): 1.5,
    ("echo100", "asio"): 0.9,
    ("echo10k", "asyncio"): 3.0,
    ("echo10k", "uvloop"): 1.5,
    ("echo10k", "asio"): 0.9,
}

MISSING = 3  # a peer program's exit status for "not installed" (uvloop)


def debian_python():
    """The interpreter for the Python peers: $COOP_BENCH_PYTHON if set, else Debian's, where
    python3-uvloop installs, when there is one (a pyenv or venv python3 first on PATH would
    not see uvloop)."""
    for p in (os.environ.get("COOP_BENCH_PYTHON", ""), "/usr/bin/python3", shutil.which("python3") or "",
              sys.executable):
        if p and os.access(p, os.X_OK):
            return p
    return sys.executable


class System:
    def __init__(self, name, label, argv, missing_reason=None, env=None):
        self.name, self.label, self.argv, self.missing = name, label, argv, missing_reason
        self.env = dict(os.environ, **env) if env else None  # None: this process's environment


def systems(bin_dir):
    py = debian_python()
    script = os.path.join(HERE, "peers", "asyncio_bench.py")

    def binary(name, install):
        path = os.path.join(bin_dir, name)
        return ([path], None) if os.access(path, os.X_OK) else ([path], install)

    coop, coop_missing = binary("coop_bench", "build it: make bench")
    asio, asio_missing = binary("asio_bench", "install Boost (sudo apt-get install libboost-dev), then make bench")
    threads, threads_missing = binary("threads_bench", "build it: make bench")
    has_uvloop = subprocess.run([py, "-c", "import uvloop"], capture_output=True).returncode == 0
    # Go: CMake builds go_bench beside coop_bench when it finds the go command.
    go, go_missing = binary("go_bench", "build it: make bench")
    if go_missing and not shutil.which("go"):
        go_missing = "install Go (sudo apt-get install golang-go), then make bench"
    node = shutil.which("node") or shutil.which("nodejs")
    cores = os.cpu_count() or 1
    return [
        System("coop", "coop", coop + ["--peer"], coop_missing),
        System("asyncio", "asyncio", [py, script, "--loop", "asyncio"]),
        System("uvloop", "uvloop", [py, script, "--loop", "uvloop"],
               None if has_uvloop else f"install it: sudo apt-get install python3-uvloop (for {py})"),
        System("asio", "Boost.Asio", asio, asio_missing),
        System("threads", "threads", threads, threads_missing),
        # Go twice: on one thread, as coop's loop, and on every core, Go's default.
        System("go1", "Go (GOMAXPROCS=1)", go, go_missing, env={"GOMAXPROCS": "1"}),
        System("goN", f"Go (GOMAXPROCS={cores})", go, go_missing, env={"GOMAXPROCS": str(cores)}),
        System("node", "Node.js", [node or "node", os.path.join(HERE, "peers", "node_bench.mjs")],
               None if node else "install it: sudo apt-get install nodejs"),
    ]


class Failure(Exception):
    pass


# ---- one measurement ------------------------------------------------------------------------

def measure(system, workload, n, timeout):
    """Runs `PROG WORKLOAD N` in a fresh process; returns (value, n used, note)."""
    cmd = system.argv + [workload, str(n)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=system.env)
    except subprocess.TimeoutExpired:
        raise Failure(f"{workload}: no answer after {timeout:g} s (killed)")
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise Failure(f"{workload}: exit status {p.returncode}: {last}")
    try:
        r = json.loads(p.stdout.strip().splitlines()[-1])
        return float(r["value"]), int(r.get("n", n)), r.get("note", "")
    except (ValueError, KeyError, IndexError):
        raise Failure(f"{workload}: unreadable output: {p.stdout.strip()[:200]!r}")


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise Failure(f"no {key} in /proc/{pid}/status")


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def echo(system, connections, seconds, warmup, client):
    """Starts the system's echo server, loads it with echo_client, samples the server.
    Returns a dict: rps, client_cpu, server_cpu, bytes_per_conn, per_cpu_s.

    per_cpu_s, the figure reported first, is the client's requests per second over the
    server's CPU share in the same stretch: requests per second of the server's own CPU
    time (user + system, from /proc/PID/stat, all its threads). It does not depend on how
    much of the machine the client left the server, which on 2 cores bounds rps."""
    server = subprocess.Popen(system.argv + ["echo-server"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True, env=system.env)
    try:
        line = read_line(server, 15.0)
        if not line.startswith("PORT "):
            err = server.stderr.read() if server.poll() is not None else ""
            raise Failure(f"echo server did not say its port: {(line or err).strip()[:200]!r}")
        port = int(line.split()[1])
        time.sleep(0.2)  # let it settle after printing (a Python server imports lazily)
        rss0, fds0 = proc_status(server.pid, "VmRSS"), open_fds(server.pid)
        c = subprocess.Popen([client, "--port", str(port), "--connections", str(connections), "--seconds",
                              f"{seconds:g}", "--warmup", f"{warmup:g}", "--size", "64"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # While the client runs: with every connection open (the server holds that many more
        # descriptors), keep the highest resident memory and the CPU the server used.
        rss_max, first, last = 0, None, None
        deadline = time.monotonic() + warmup + seconds + 120
        while c.poll() is None:
            if time.monotonic() > deadline:
                c.kill()
                raise Failure("echo: the client did not finish (killed)")
            if server.poll() is not None:
                c.kill()
                raise Failure(f"echo server died (status {server.returncode}): "
                              f"{server.stderr.read().strip()[-200:]}")
            try:
                if open_fds(server.pid) >= fds0 + connections:
                    rss_max = max(rss_max, proc_status(server.pid, "VmRSS"))
                    sample = (time.monotonic(), proc_cpu_seconds(server.pid))
                    first = first or sample
                    last = sample
            except (FileNotFoundError, ProcessLookupError):
                pass
            time.sleep(0.05)
        out, err = c.communicate()
        try:
            r = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            r = {}
        if c.returncode != 0 or r.get("errors", 1) != 0 or not r.get("checked", False):
            why = (err.strip().splitlines() or [out.strip()])[-1][:200]
            raise Failure(f"echo {connections}: the client reported errors (status {c.returncode}): {why}")
        if first is None or last[0] <= first[0]:
            raise Failure(f"echo {connections}: the server never held all {connections} connections at once")
        server_cpu = (last[1] - first[1]) / (last[0] - first[0])
        if server_cpu <= 0:
            raise Failure(f"echo {connections}: no server CPU time measured (sampled for "
                          f"{last[0] - first[0]:.2f} s)")
        return {
            "rps": float(r["rps"]),
            "client_cpu": float(r.get("cpu", 0)),
            "server_cpu": server_cpu,
            "bytes_per_conn": (rss_max - rss0) / connections,
            "per_cpu_s": float(r["rps"]) / server_cpu,
        }
    finally:
        stop(server)


def read_line(p, timeout):
    """One line of p's stdout, or "" after `timeout` seconds or at its end."""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    ready = sel.select(timeout)
    sel.close()
    return p.stdout.readline() if ready else ""


def stop(p):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=5)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    for stream in (p.stdout, p.stderr):
        if stream:
            stream.close()


# ---- the tables -----------------------------------------------------------------------------

def fmt_value(v, unit):
    if unit.startswith("req/"):
        return f"{v:,.0f}"
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:,.1f}"


def advantage(workload, coop, peer):
    lower_better = WORKLOADS[workload][2]
    return peer / coop if lower_better else coop / peer


def print_table(workload, n, rows, echo_extra, out):
    title, unit, lower_better = WORKLOADS[workload]
    print(f"\n{workload}: {title.format(n=n)} — {unit}, {'lower' if lower_better else 'higher'} is better", file=out)
    head = f"  {'system':<11}{'median':>12}  {'runs':<30}{'coop vs it':>11}"
    if echo_extra:  # the median is requests per server CPU-second; then the raw figures
        head += f"  {'req/s':>9}  {'server CPU':>10}  {'B/conn':>8}"
    print(head + "  target", file=out)
    coop = rows.get("coop")
    missed = met = 0
    for name, r in rows.items():
        if "error" in r:
            print(f"  {name:<11}{'FAILED':>12}  {r['error']}", file=out)
            continue
        runs = ", ".join(fmt_value(v, unit) for v in r["samples"])
        line = f"  {name:<11}{fmt_value(r['median'], unit):>12}  {runs[:30]:<30}"
        if coop and "median" in coop and name != "coop":
            a = advantage(workload, coop["median"], r["median"])
            line += f"{a:>10.2f}×"
        else:
            line += f"{'':>11}"
        if echo_extra:
            line += f"  {r['rps']:>9,.0f}  {r['server_cpu'] * 100:>9.0f}%  {r['bytes_per_conn']:>8,.0f}"
        target = TARGETS.get((workload, name))
        if target is not None and coop and "median" in coop:
            ok = advantage(workload, coop["median"], r["median"]) >= target
            met, missed = met + ok, missed + (not ok)
            line += f"  ≥ {target:g}× " + ("met" if ok else "MISSED")
        if r.get("note"):
            line += f"  [{r['note']}]"
        print(line.rstrip(), file=out)
    return met, missed


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} × {model}, Linux {os.uname().release}"


def versions(bin_dir, py):
    v = {}
    cache = os.path.join(os.path.dirname(bin_dir), "CMakeCache.txt")
    try:
        with open(cache) as f:
            cxx = next(l.split("=", 1)[1].strip() for l in f if l.startswith("CMAKE_CXX_COMPILER:"))
        v["c++"] = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, StopIteration, IndexError):
        pass
    v["python"] = subprocess.run([py, "-c", "import sys; print(sys.version.split()[0])"],
                                 capture_output=True, text=True).stdout.strip()
    u = subprocess.run([py, "-c", "import uvloop; print(uvloop.__version__)"], capture_output=True, text=True)
    if u.returncode == 0:
        v["uvloop"] = u.stdout.strip()
    go = os.path.join(bin_dir, "go_bench")
    if os.access(go, os.X_OK):  # the Go that built it (go version reads the binary)
        g = subprocess.run(["go", "version", go], capture_output=True, text=True) if shutil.which("go") else None
        if g and g.returncode == 0 and g.stdout.split():
            v["go"] = g.stdout.split()[-1].removeprefix("go")
    node = shutil.which("node") or shutil.which("nodejs")
    if node:
        v["node"] = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip().lstrip("v")
    try:
        with open("/usr/include/boost/version.hpp") as f:
            line = next(l for l in f if l.startswith("#define BOOST_LIB_VERSION"))
            v["boost"] = line.split('"')[1].replace("_", ".")
    except (OSError, StopIteration, IndexError):
        pass
    return v


def main():
    ap = argparse.ArgumentParser(description="coop side by side with asyncio, uvloop, Boost.Asio, threads, "
                                             "Go and Node.js (see bench/README.md)")
    ap.add_argument("--quick", action="store_true", help="sizes / 10, one repetition, short echo runs: a smoke test")
    ap.add_argument("--repeat", type=int, default=0, help="repetitions per system and workload (default 3)")
    ap.add_argument("--only", default="", help="comma-separated workloads: " + ",".join(WORKLOADS))
    ap.add_argument("--systems", default="", help="comma-separated systems (default: all): "
                                                  "coop,asyncio,uvloop,asio,threads,go1,goN,node")
    ap.add_argument("--json", action="store_true", help="one JSON object per system and workload, one per line")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build-bench", "bench"),
                    help="where coop_bench, echo_client, asio_bench, threads_bench and go_bench are")
    try:
        a = ap.parse_args()
    except SystemExit as e:
        return 2 if e.code else 0
    only = [w for w in a.only.split(",") if w]
    bad = [w for w in only if w not in WORKLOADS and w not in COOP_ONLY]
    if bad:
        print(f"compare.py: unknown workload '{bad[0]}' (known: {', '.join(WORKLOADS)})", file=sys.stderr)
        return 2
    if a.repeat < 0 or a.repeat > 100:
        print("compare.py: --repeat must be from 1 to 100", file=sys.stderr)
        return 2
    workloads = [w for w in WORKLOADS if not only or w in only]
    if not workloads:
        return 0
    reps = a.repeat or (1 if a.quick else 3)
    scale = 10 if a.quick else 1
    sizes = {"spawn": 100_000 // scale, "pingpong": 1_000_000 // scale, "suspended": 100_000 // scale,
             "timers": 1_000_000 // scale, "echo100": 100, "echo10k": 10_000 // scale}
    seconds, warmup = (0.5, 0.25) if a.quick else (3.0, 1.0)
    client = os.path.join(a.bin, "echo_client")

    every = systems(a.bin)
    wanted = [s for s in a.systems.split(",") if s]
    unknown = [s for s in wanted if s not in {x.name for x in every}]
    if unknown:
        print(f"compare.py: unknown system '{unknown[0]}' (known: {', '.join(x.name for x in every)})",
              file=sys.stderr)
        return 2
    chosen = [s for s in every if not wanted or s.name in wanted]
    out = sys.stderr if a.json else sys.stdout
    py = debian_python()
    v = versions(a.bin, py)
    print(f"# compare.py: {time.strftime('%Y-%m-%d %H:%M')}, {machine()}", file=out)
    print("# " + ", ".join(f"{k} {x}" for k, x in v.items()) + f"; {reps} run(s) each, interleaved", file=out)
    named = [f"{s.name} = {s.label}" for s in chosen if s.name.lower() != s.label.lower()]
    if named:
        print("# " + ", ".join(named), file=out)
    for s in chosen:
        if s.missing:
            print(f"# {s.label}: skipped, not available — {s.missing}", file=out)
    present = [s for s in chosen if not s.missing]
    if any(w.startswith("echo") for w in workloads) and not os.access(client, os.X_OK):
        print(f"compare.py: {client} is missing: build it (make bench)", file=sys.stderr)
        return 1

    # Descriptors for 10,000 connections: raise the soft limit (children inherit it).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Client and server are separate processes: each needs N descriptors, and a few more.
    if "echo10k" in workloads and hard < sizes["echo10k"] + 100:
        sizes["echo10k"] = max(100, hard - 100)
        print(f"# echo10k: the open-files hard limit is {hard}: {sizes['echo10k']} connections "
              f"(raise it with ulimit -Hn)", file=out)

    results = {w: {s.name: {"samples": [], "extra": []} for s in present} for w in workloads}
    for rep in range(reps):
        for w in workloads:
            for s in present:
                r = results[w][s.name]
                if "error" in r:
                    continue
                print(f"# run {rep + 1}/{reps}: {w} on {s.label} ...", file=sys.stderr, flush=True)
                try:
                    if w.startswith("echo"):
                        e = echo(s, sizes[w], seconds, warmup, client)
                        r["samples"].append(e["per_cpu_s"])
                        r["extra"].append(e)
                    else:
                        value, used, note = measure(s, w, sizes[w], timeout=300)
                        r["samples"].append(value)
                        r["n"], r["note"] = used, note
                except Failure as f:
                    r["error"] = str(f)

    failures = met = missed = 0
    for w in workloads:
        rows = results[w]
        for name, r in rows.items():
            if "error" in r:
                failures += 1
                continue
            r["median"] = statistics.median(r["samples"])
            if r["extra"]:
                for k in ("rps", "server_cpu", "client_cpu", "bytes_per_conn"):
                    r[k] = statistics.median(e[k] for e in r["extra"])
        if a.json:
            for name, r in rows.items():
                rec = {"workload": w, "system": name, "n": r.get("n", sizes[w]), "unit": WORKLOADS[w][1]}
                rec.update({k: r[k] for k in ("median", "samples", "note", "error", "rps", "server_cpu",
                                              "client_cpu", "bytes_per_conn") if k in r and r[k] != ""})
                if "median" in r and "median" in rows.get("coop", {}) and name != "coop":
                    rec["coop_advantage"] = advantage(w, rows["coop"]["median"], r["median"])
                    if (w, name) in TARGETS:
                        rec["target"] = TARGETS[(w, name)]
                        rec["missed"] = rec["coop_advantage"] < TARGETS[(w, name)]
                print(json.dumps(rec))
        ok, miss = print_table(w, sizes[w], rows, w.startswith("echo"), out)
        met, missed = met + ok, missed + miss
    print(f"\n# targets: {met} met, {missed} missed" + (f"; {failures} measurement(s) FAILED" if failures else ""),
          file=out)
    if any(s.name == "coop" for s in present) and a.quick:
        print("# --quick: small sizes and one run; a smoke test, not a measurement", file=out)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
