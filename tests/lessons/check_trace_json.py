#!/usr/bin/env python3
"""check_trace_json.py FILE — is FILE a Chrome Trace Event Format document as the lessons
write it? It must parse as JSON; every event needs ph, pid, tid (and ts unless metadata);
every track (tid) that carries events must be named by a thread_name metadata event; there
must be at least one task track and one complete ("X") slice with a non-negative dur."""
import json
import sys


def fail(msg):
    print(msg)
    sys.exit(1)


def main(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{path}: not valid JSON: {e}")
    events = doc.get("traceEvents") if isinstance(doc, dict) else None
    if not isinstance(events, list) or not events:
        fail(f"{path}: no traceEvents array")
    named, used, slices = {}, set(), 0
    for i, e in enumerate(events):
        for key in ("ph", "pid", "tid"):
            if key not in e:
                fail(f"{path}: event {i} has no '{key}': {e}")
        if e["ph"] == "M":
            if e.get("name") == "thread_name":
                name = e.get("args", {}).get("name", "")
                if not name:
                    fail(f"{path}: track {e['tid']} has an empty name")
                named[e["tid"]] = name
            continue
        if not isinstance(e.get("ts"), (int, float)):
            fail(f"{path}: event {i} has no numeric ts: {e}")
        used.add(e["tid"])
        if e["ph"] == "X":
            if not isinstance(e.get("dur"), (int, float)) or e["dur"] < 0:
                fail(f"{path}: slice {i} has a bad dur: {e}")
            slices += 1
    unnamed = sorted(used - named.keys())
    if unnamed:
        fail(f"{path}: tracks {unnamed[:5]} carry events but have no thread_name")
    if not used or not slices:
        fail(f"{path}: no task tracks or no slices")
    print(f"{path}: {len(events)} events, {len(used)} named task tracks, {slices} slices")


if __name__ == "__main__":
    main(sys.argv[1])
