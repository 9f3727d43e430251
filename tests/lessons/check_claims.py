#!/usr/bin/env python3
"""check_claims.py — a lesson never prints a conclusion its own figures contradict.

    check_claims.py LESSON [--bench COOP_BENCH] [--readme README.md --strict]

The golden files hold what a lesson prints under --virtual-time, with every figure that
depends on the machine masked; they cannot see whether a figure measured in real time
agrees with the sentence built on it. These checks run a lesson the way a student does
(real time, no flags but --no-color, or the step named) and read its own output:

  lesson01, lesson09  the bytes per parked task count the frame and the task record: the
                      lesson's figure is what coop_bench's `suspended` workload measures in
                      the same build (--bench); with --strict (an optimised GCC build, the
                      one the README's table comes from) it is the README's figure too
  lesson02            by default the lecture's 10,000 connections are measured, or the
                      lesson says that its 10,000 figure is a projection, and why
  lesson05            a time quoted in a conclusion is the time stamped on the line it
                      summarises
  lesson09            step 4's CPU-bound row: the speed-up it prints is the ratio of the
                      two times it prints, and it concludes only when the figures hold
                      (faster on more threads, never faster than the cores allow), else it
                      says why it cannot
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lesson")
    ap.add_argument("--bench")
    ap.add_argument("--readme")
    ap.add_argument("--strict", action="store_true")
    a = ap.parse_args()
    name = os.path.basename(a.lesson)
    checks = {
        "lesson05": lambda: check_lesson05(a.lesson),
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
