#!/usr/bin/env python3
"""load_test.py — coop's echo server under sustained load: nothing lost, nothing kept.

    python3 tests/load/load_test.py [--connections 10000] [--seconds 30] [--rounds 2]
                                    [--bin build-bench/bench]

`make load` runs it (CI with a shorter run). The server is coop's echo server from
bench/core.cpp (`coop_bench --peer echo-server`: one task accepts, one task per
connection echoes), the client bench/echo_client, which checks every echoed byte of every
message (each message is unique to its connection and sequence number, so a lost,
duplicated, reordered or corrupted message is an error).

Each round: the client opens --connections connections, keeps one 64-byte message in
flight on each for 1 s of warm-up and --seconds of measured load, and closes them all.
Checked, each round:
  - the client saw no error and verified every echo (its exit status and "errors": 0);
  - the server held all the connections at once (its open descriptors, from /proc);
  - once the client has gone, the server holds what it held before the round: no
    connection, the same number of live tasks and coroutine frames (frame_stats(), asked
    for with SIGUSR1), the same number of open descriptors;
  - resident memory does not grow from one round to the next. (It does not fall back to
    the very first figure: coop's frame pool keeps the frames it made for reuse, by design,
    and malloc keeps freed memory too. What must not happen is growth per round: a leak.)
Prints what it measured; exit status 0 when every check held, 1 with a one-line reason.
"""
import argparse
import json
import os
import re
import resource
import selectors
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


class Failed(Exception):
    pass


def read_line(p, timeout, prefix):
    """The next line of p's stdout that starts with `prefix`, within `timeout` seconds."""
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sel.select(max(0.0, deadline - time.monotonic())):
                break
            line = p.stdout.readline()
            if not line:
                break
            if line.startswith(prefix):
                return line.strip()
    finally:
        sel.close()
    raise Failed(f"the server did not print {prefix.strip()!r} within {timeout:g} s")


def stats(server):
    """What the server holds now: connections, live_tasks, live_frames, live_bytes, rss."""
    server.send_signal(signal.SIGUSR1)
    line = read_line(server, 5.0, "STATS ")
    return {k: float(v) if k == "rss" else int(v) for k, v in re.findall(r"(\w+)=([0-9.e+]+)", line)}


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled(server, baseline, fds0, timeout=10.0):
    """Waits until the server is back to its baseline; returns the last stats seen."""
    deadline = time.monotonic() + timeout
    while True:
        s = stats(server)
        same = (s["connections"] == 0 and s["live_tasks"] == baseline["live_tasks"]
                and s["live_frames"] == baseline["live_frames"] and s["live_bytes"] == baseline["live_bytes"]
                and open_fds(server.pid) == fds0)
        if same:
            return s
        if time.monotonic() > deadline:
            raise Failed(f"after the clients left the server still holds more than before: {s} "
                         f"with {open_fds(server.pid)} descriptors, before: {baseline} with {fds0}")
        time.sleep(0.2)


def round_of_load(server, port, n, seconds, client):
    fds0 = open_fds(server.pid)
    c = subprocess.Popen([client, "--port", str(port), "--connections", str(n), "--seconds", f"{seconds:g}",
                          "--warmup", "1", "--size", "64"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    held = 0
    while c.poll() is None:
        try:
            held = max(held, open_fds(server.pid) - fds0)
        except FileNotFoundError:
            pass
        if server.poll() is not None:
            c.kill()
            raise Failed(f"the server died (status {server.returncode}) under {n} connections")
        time.sleep(0.1)
    out, err = c.communicate()
    try:
        r = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        r = {}
    if c.returncode != 0 or r.get("errors", 1) != 0 or not r.get("checked"):
        why = (err.strip().splitlines() or [out.strip() or "(no output)"])[-1]
        raise Failed(f"the client reported errors (status {c.returncode}): {why}")
    if held < n:
        raise Failed(f"the server held at most {held} of the {n} connections at once")
    return r, held


def main():
    ap = argparse.ArgumentParser(description="coop's echo server under sustained load (see the docstring)")
    ap.add_argument("--connections", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=30.0, help="measured load per round, after 1 s of warm-up")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build-bench", "bench"))
    a = ap.parse_args()
    if a.connections < 1 or a.rounds < 1 or a.seconds <= 0:
        print("load_test: --connections, --rounds and --seconds must be positive", file=sys.stderr)
        return 2
    server_bin, client = os.path.join(a.bin, "coop_bench"), os.path.join(a.bin, "echo_client")
    for b in (server_bin, client):
        if not os.access(b, os.X_OK):
            print(f"load_test: {b} is missing: build it (make bench-build)", file=sys.stderr)
            return 1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < a.connections + 100:
        print(f"load_test: {a.connections} connections need {a.connections + 100} open files; "
              f"the hard limit (ulimit -Hn) is {hard}", file=sys.stderr)
        return 1
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    server = subprocess.Popen([server_bin, "--peer", "echo-server"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(read_line(server, 10.0, "PORT ").split()[1])
        time.sleep(0.1)
        baseline, fds0 = stats(server), open_fds(server.pid)
        print(f"load_test: coop echo server on port {port}: {baseline['live_tasks']} live tasks, "
              f"{baseline['live_frames']} frames, {fds0} descriptors, {baseline['rss'] / 2**20:.1f} MiB resident")
        rss_after, total = [], 0
        for i in range(a.rounds):
            t0 = time.monotonic()
            r, held = round_of_load(server, port, a.connections, a.seconds, client)
            after = settled(server, baseline, fds0)
            rss_after.append(after["rss"])
            total += int(r["requests"])
            print(f"load_test: round {i + 1}: {held:,} connections held, {int(r['requests']):,} echoes verified "
                  f"in {r['seconds']:.1f} s ({r['rps']:,.0f}/s), 0 errors; back to {after['live_tasks']} tasks, "
                  f"{after['live_frames']} frames, {open_fds(server.pid)} descriptors; "
                  f"{after['rss'] / 2**20:.1f} MiB resident ({time.monotonic() - t0:.1f} s)")
        # No growth from round to round (a tolerance of 2% + 1 MiB for malloc's bookkeeping).
        for i in range(1, len(rss_after)):
            if rss_after[i] > rss_after[0] * 1.02 + 2**20:
                raise Failed(f"resident memory grew from round 1 to round {i + 1}: "
                             f"{rss_after[0] / 2**20:.1f} -> {rss_after[i] / 2**20:.1f} MiB")
        print(f"load_test: OK: {a.rounds} round(s) of {a.connections:,} connections, {total:,} echoes verified, "
              f"none lost or corrupted; tasks, frames and descriptors back to their baseline after each round")
        return 0
    except Failed as f:
        print(f"load_test: FAILED: {f}", file=sys.stderr)
        return 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
