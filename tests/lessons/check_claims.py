#!/usr/bin/env python3
"""check_claims.py — a lesson never prints a conclusion its own figures contradict.

    check_claims.py LESSON [--bench COOP_BENCH] [--readme README.md --strict]

The golden files hold what a lesson prints under --virtual-time, with every figure that
depends on the machine masked; they cannot see whether a figure measured in real time
agrees with the sentence built on it. These checks run a lesson the way a student does
(real time, no flags but --no-color, or the step named) and read its own output:

  lesson01, lesson09  the bytes per parked task count the frame and the task record: the
                      lesson's figure is what coop_bench's `suspended` workload measures in
                      the same build (--bench; within 16 B, one size class of the frame
                      pool: the lesson's coroutine is not the bench's); with --strict (an
                      optimised GCC build, the one the README's table comes from) it is
                      the README's figure too (within 8 B)
  lesson02            by default (step 1) the lecture's 10,000 threads are measured, or
                      the lesson says that its 10,000 figure is a projection, and why
                      step 3: no figure per task is below the task's frame (a task cannot
                      cost less than its frame; VmSize growth can, as malloc reuses space)
  lesson03            a sum of waits it prints ("0.300 + 0.100 + 0.201 = 0.601 s") adds up
  lesson05            a time quoted in a conclusion is the time stamped on the line it
                      summarises; the cleanup's length is the difference of its two ends
  lesson09            step 4's CPU-bound row: the speed-up it prints is the ratio of the
                      two times it prints, and it concludes only when the figures hold
                      (faster on more threads, never faster than the cores allow), else it
                      says why it cannot; step 1 quotes a longest gap between heartbeats
                      only when there were two beats to have a gap between; the ratio of a
                      to_thread round trip to a loop turn is that of the two times it quotes
Each failure names the claim and quotes the lines. Exit 0: all held.
"""
import argparse
import os
import re
import subprocess
import sys

failures = []


def fail(claim, why, lines=()):
    failures.append(f"{claim}: {why}" + "".join(f"\n    | {l}" for l in lines))


def run(args, env_extra=None, timeout=240):
    env = dict(os.environ)
    env.pop("COOP_LESSON_GOLDEN", None)
    env["NO_COLOR"] = "1"
    env.update(env_extra or {})
    p = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=timeout)
    if p.returncode != 0:
        sys.exit(f"{' '.join(args)}: exit status {p.returncode}\n{p.stderr}")
    return p.stdout


def stamped(out, pattern):
    """The time on the stamped line matching `pattern` ("[  0.250 s] main: ..."), or None."""
    for line in out.splitlines():
        m = re.match(r"\s*\[\s*([0-9.]+) s\] (.*)", line)
        if m and re.search(pattern, m.group(2)):
            return m.group(1), line.strip()
    return None, None


def conclusion(out, pattern):
    """The first '→' line matching `pattern`, and the match."""
    for line in out.splitlines():
        s = line.strip()
        if s.startswith("→"):
            m = re.search(pattern, s)
            if m:
                return m, s
    return None, None


# ---- lesson 02: the lecture's 10,000 by default ---------------------------------------------

def check_lesson02(lesson):
    out = run([lesson, "--no-color", "--only", "1"])
    claim = "lesson02 the lecture's 10,000"
    measured, line = conclusion(out, r"measured here with 10,000: ")
    projected, pline = conclusion(out, r"projected to 10,000 from the ([0-9,]+) measured here, the most this machine "
                                       r"allows \((.+)\): a projection")
    if measured:
        if not re.search(r"started 10,000 threads", out):
            fail(claim, "it says 'measured here with 10,000' but did not start 10,000 threads", [line])
    elif projected:
        if projected.group(1) == "10,000":
            fail(claim, "a projection from 10,000 to 10,000", [pline])
    else:
        fail(claim, "by default it neither measured the lecture's 10,000 threads nor said that its 10,000 figure is "
                    "a projection (and why)")

    check_lesson02_task_bytes(run([lesson, "--no-color", "--only", "3", "--connections", "1000"]))


BYTES = r"([0-9.]+) (B|KiB|MiB|GiB)"


def to_bytes(number, unit):
    return float(number) * {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}[unit]


def check_lesson02_task_bytes(out):
    claim = "lesson02 a task costs at least its frame"
    m = re.search(r"coroutine frames alive meanwhile: .*\(" + BYTES + r" per task", out)
    if not m:
        fail(claim, "step 3 did not print the frame bytes per task")
        return
    frame = to_bytes(*m.groups())
    # A thread's cell is "8.0 MiB", or "n/a" where there is no /proc (the portable build):
    # a task's n/a cell is then no figure to hold against the frame.
    cells = re.search(r"per connection:\n\s*virtual memory \(VmSize\)\s+(?:\S+ \S+|n/a)\s+(.+)\n\s*resident memory "
                      r"\(VmRSS\)\s+(?:\S+ \S+|n/a)\s+(.+)\n", out)
    if not cells:
        fail(claim, "step 3 printed no per-connection table")
        return
    for what, cell in (("VmSize", cells.group(1)), ("VmRSS", cells.group(2))):
        c = re.fullmatch(BYTES, cell.strip())
        if c and to_bytes(*c.groups()) < frame:
            fail(claim, f"the table's {what} per task, {cell.strip()}, is below the frame", [m.group(0)])
    concl, line = conclusion(out, r"a task costs " + BYTES)
    if not concl:
        fail(claim, "step 3 concludes on no cost per task ('a task costs ...')")
    elif to_bytes(concl.group(1), concl.group(2)) < frame:
        fail(claim, "the conclusion's cost per task is below the frame", [m.group(0), line])


# ---- lesson 05: times quoted agree with the lines they summarise ---------------------------

def check_lesson05(lesson):
    out = run([lesson, "--no-color", "--no-timeline"])
    pairs = [
        (r"^main: h\.cancel\(\) -> true", r"cancel\(\) returned true at ([0-9.]+) s"),
        (r"^quota: used up", r"cancel\(\) was called at ([0-9.]+) s"),
        (r"^main: cancel\(\)$", r"^→ cancel\(\) at ([0-9.]+) s; the cleanup"),
        (r"^import: cancelled; cleaning up", r"the cleanup awaited from ([0-9.]+) s"),
        (r"^main: cancel\(\); the flusher", r"^→ cancel\(\) at ([0-9.]+) s after flush"),
        (r"^main: wait_for returned", r"returned \"fast: 42 rows\" after ([0-9.]+) s"),
        (r"^main: page\.cancel\(\)", r"page\.cancel\(\) at ([0-9.]+) s"),
    ]
    for line_pattern, quote_pattern in pairs:
        at, line = stamped(out, line_pattern)
        m, concl = conclusion(out, quote_pattern)
        if at is None or m is None:
            fail("lesson05 times", f"did not find the line /{line_pattern}/ and its conclusion /{quote_pattern}/",
                 [l for l in (line, concl) if l])
        elif m.group(1) != at:
            fail("lesson05 times", f"the conclusion says {m.group(1)} s, the line it summarises {at} s", [line, concl])
    check_lesson05_cleanup(out)


def check_lesson05_cleanup(out):
    m, line = conclusion(out, r"the cleanup awaited from ([0-9.]+) s to ([0-9.]+) s \(([0-9.]+) s")
    if not m:
        fail("lesson05 cleanup length", "step 3 did not say from when to when the cleanup awaited")
    elif round((float(m.group(2)) - float(m.group(1))) * 1000) != round(float(m.group(3)) * 1000):
        fail("lesson05 cleanup length", f"{m.group(2)} - {m.group(1)} is not {m.group(3)}", [line])


# ---- lesson 03: sums add up ------------------------------------------------------------------

def check_lesson03(lesson):
    out = run([lesson, "--no-color", "--no-timeline"])
    sums = re.findall(r"((?:[0-9.]+ \+ )+[0-9.]+) = ([0-9.]+) s", out)
    if not sums:
        fail("lesson03 sums", "printed no sum of waits")
    for parts, total in sums:
        if round(sum(float(p) for p in parts.split(" + ")) * 1000) != round(float(total) * 1000):
            fail("lesson03 sums", "the sum does not add up", [f"{parts} = {total} s"])


# ---- lessons 01 and 09: bytes per parked task, everything counted ----------------------------

def bench_bytes_per_task(bench):
    """What coop_bench's `suspended` workload measures in this build: resident memory per
    task, 100,000 tasks parked on one Event (a fresh process, as the bench runs it)."""
    p = subprocess.run([bench, "--child", "suspended", "100000"], capture_output=True, text=True, timeout=120)
    m = re.search(r"rss_per_task=([0-9.]+)", p.stdout)
    if p.returncode != 0 or not m:
        sys.exit(f"coop_bench --child suspended: exit {p.returncode}\n{p.stdout}{p.stderr}")
    return float(m.group(1))


def readme_bytes_per_task(readme):
    m = re.search(r"^\| parked task, bytes \| ([0-9,]+)\S* \|", open(readme).read(), re.M)
    if not m:
        sys.exit(f"{readme}: no '| parked task, bytes | N |' row")
    return int(m.group(1).replace(",", ""))


def check_parked_bytes(name, lesson, pattern, args, bench, readme, strict):
    out = run([lesson, "--no-color"] + args)
    m, line = conclusion(out, pattern)
    if m is None:
        fail(f"{name} bytes per parked task", f"no conclusion /{pattern}/ (frame and task record, in all)")
        return
    if m.group(1) == "n/a":
        return  # no /proc here: the lesson says so instead of a figure
    lesson_bytes = int(m.group(1))
    if bench:
        bench_bytes = bench_bytes_per_task(bench)
        if abs(lesson_bytes - bench_bytes) > 16:  # one of the pool's size classes: the coroutines differ
            fail(f"{name} bytes per parked task",
                 f"the lesson says {lesson_bytes} B, coop_bench's suspended workload {bench_bytes:.1f} B", [line])
    if readme and strict:
        readme_bytes = readme_bytes_per_task(readme)
        if abs(lesson_bytes - readme_bytes) > 8:
            fail(f"{name} bytes per parked task",
                 f"the lesson says {lesson_bytes} B, the README's table {readme_bytes} B (re-measure with "
                 f"`make bench-core ARGS=\"--only suspended\"` and update both READMEs)", [line])
    if re.search(r"1/[0-9]{4,}", out):
        fail(f"{name} ratios", "a ratio printed as 1/NNNNN: more digits than the measurement has",
             [l for l in out.splitlines() if re.search(r"1/[0-9]{4,}", l)])


# ---- lesson 09: the CPU-bound verdict -------------------------------------------------------

def check_lesson09_cpu(out):
    claim = "lesson09 CPU-bound work"
    one = re.search(r"4 equal chunks took ([0-9.]+) s on 1 thread", out)
    four = re.search(r"([0-9.]+) s on 4: ([0-9.]+)× (.*)", out)
    verdict, vline = conclusion(out, r"^→ CPU-bound work: (.*)")
    vline = vline or ""
    cores = os.cpu_count() or 1
    if not (one and four):
        fail(claim, "did not find the row '4 equal chunks took X s on 1 thread, Y s on 4: S× ...'")
        return
    t1, t4, shown = float(one.group(1)), float(four.group(1)), float(four.group(2))
    lines = [one.group(0), four.group(0), vline]
    if t4 <= 0 or abs(shown - t1 / t4) > 0.06:
        fail(claim, f"it prints {shown}×, its times give {t1 / t4:.2f}×", lines)
    concluded = "faster" in four.group(3) and "no verdict" not in four.group(3) + vline
    if concluded:
        usable = min(4, cores)
        if shown < 1.2 or shown > usable * 1.15 + 0.05:
            fail(claim, f"it concludes from {shown}× with {cores} cores (possible: 1× to {usable}×)", lines)
        if cores <= 1:
            fail(claim, "it concludes that a pool speeds up CPU-bound work on 1 core", lines)
    if not verdict:
        fail(claim, "no '→ CPU-bound work:' line: neither a verdict nor the reason there is none", lines)
    elif not concluded and not re.search(r"no verdict|1 core", vline):
        fail(claim, "neither a verdict nor the reason there is none", lines)


def check_lesson09(a):
    check_parked_bytes("lesson09", a.lesson, r"^→ a parked task costs ([0-9]+|n/a)", ["--only", "4"], a.bench,
                       a.readme, a.strict)
    out = run([a.lesson, "--no-color", "--only", "4"])
    check_lesson09_cpu(out)
    check_lesson09_turn(out)
    check_lesson09_gap(run([a.lesson, "--no-color", "--no-timeline", "--only", "1"]))


def check_lesson09_turn(out):
    claim = "lesson09 to_thread against a loop turn"
    unit = {"ns": 1, "µs": 1e3}
    m, line = conclusion(out, r"to_thread costs about ([0-9,]+)× the price of a loop turn \(([0-9.]+) (ns|µs) "
                              r"against ([0-9.]+) (ns|µs)\)")
    if not m:
        fail(claim, "step 4 did not quote the ratio with the two times it divides")
        return
    trip, turn = float(m.group(2)) * unit[m.group(3)], float(m.group(4)) * unit[m.group(5)]
    said = float(m.group(1).replace(",", ""))
    if turn <= 0 or abs(said - trip / turn) > 0.05 * (trip / turn):
        fail(claim, f"{m.group(1)}× is not {m.group(2)} {m.group(3)} / {m.group(4)} {m.group(5)}", [line])


def check_lesson09_gap(out):
    m, line = conclusion(out, r"the heartbeat should have beaten [0-9]+ times and beat ([0-9]+)")
    if not m:
        fail("lesson09 heartbeat gap", "step 1 did not say how often the heartbeat beat")
    elif int(m.group(1)) < 2 and "gap" in line:
        fail("lesson09 heartbeat gap", "a gap between beats quoted with fewer than two beats", [line])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lesson")
    ap.add_argument("--bench")
    ap.add_argument("--readme")
    ap.add_argument("--strict", action="store_true")
    a = ap.parse_args()
    name = os.path.basename(a.lesson)
    checks = {
        "lesson01": lambda: check_parked_bytes("lesson01", a.lesson, r"^→ 100,000 parked tasks: ([0-9]+|n/a)", [],
                                               a.bench, a.readme, a.strict),
        "lesson02": lambda: check_lesson02(a.lesson),
        "lesson03": lambda: check_lesson03(a.lesson),
        "lesson05": lambda: check_lesson05(a.lesson),
        "lesson09": lambda: check_lesson09(a),
    }
    if name not in checks:
        sys.exit(f"check_claims.py: no checks for {name}")
    checks[name]()
    if failures:
        print(f"{name}: {len(failures)} claim(s) do not hold:")
        for f in failures:
            print("  " + f)
        return 1
    print(f"{name}: every checked claim holds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
