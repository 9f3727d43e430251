#!/usr/bin/env python3
"""submission.py — the trusted parent's side of autograding, in the parts best said in Python.

    submission.py names TREE
        the exercise files the course accepts (NN_topic.cpp), from TREE's course/exercises.list,
        or, where the list is missing, from TREE/exercises/NN_*.cpp
    submission.py collect DIR DEST TREE
        copies the accepted files found in DIR (DIR/exercises/NN_topic.cpp, or NN_topic.cpp at
        DIR's top, as Gradescope's uploads often are) into DEST. Bad input (no such directory,
        a file too large, not text, a symbolic link out of DIR, not a regular file) is one
        line on stderr and exit 2, before anything is copied
    submission.py finish OUT DEST [--integrity FILE] [--build-log FILE] [--problem TEXT]
        reads OUT/results.json and OUT/junit.xml (written by coop_grade), checks them as their
        consumers will (JSON, well-formed XML, valid UTF-8, bounded), adds the integrity entry
        when coop_grade could not, and writes both into DEST all or nothing. When they are
        missing or invalid, DEST gets a results.json and junit.xml that say grading failed
        (score 0), and the exit status is 1

Nothing here runs the student's code; it runs as the parent that does.
"""
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import xml.etree.ElementTree as ET

MAX_FILE = 256 * 1024          # one exercise file; the stubs are about 4 KiB
MAX_REPORT = 8 * 1024 * 1024   # results.json or junit.xml, as coop_grade caps them well below this


def fail(message, code=2):
    print(f"make autograde: {message}", file=sys.stderr)
    sys.exit(code)


def accepted_names(tree):
    listed = os.path.join(tree, "course", "exercises.list")
    names = []
    if os.path.isfile(listed):
        with open(listed, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.match(r"\s*exercise\s+(\d\d)\s+(\w+)", line)
                if m:
                    names.append(f"{m.group(1)}_{m.group(2)}.cpp")
    if not names:
        folder = os.path.join(tree, "exercises")
        names = sorted(n for n in os.listdir(folder) if re.fullmatch(r"\d\d_\w+\.cpp", n))
    return names


def check_file(base, path, shown):
    """Why path (shown as `shown`) cannot be taken, or None. Never opens a FIFO or device."""
    try:
        st = os.lstat(path)
    except OSError as e:
        return f"{shown}: {e.strerror}"
    if stat.S_ISLNK(st.st_mode):
        real = os.path.realpath(path)
        if os.path.commonpath([real, base]) != base:
            return f"{shown} is a symbolic link to outside the submission"
        st = os.stat(real)
    if not stat.S_ISREG(st.st_mode):
        return f"{shown} is not a regular file"
    if st.st_size > MAX_FILE:
        return f"{shown} is too large ({st.st_size} bytes; an exercise file may have {MAX_FILE // 1024} KiB)"
    return None


def read_text(path, shown):
    with open(path, "rb") as f:
        data = f.read(MAX_FILE + 1)
    if len(data) > MAX_FILE:
        fail(f"{shown} is too large (more than {MAX_FILE // 1024} KiB)")
    bad = re.search(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]", data)
    if bad:
        fail(f"{shown} is not a C++ source file (binary content at byte {bad.start()})")
    return data


def collect(directory, dest, tree):
    if not os.path.exists(directory):
        fail(f"there is no submission directory {directory}")
    if not os.path.isdir(directory):
        fail(f"{directory} is not a directory")
    base = os.path.realpath(directory)
    taken = {}
    for name in accepted_names(tree):
        for shown in (f"exercises/{name}", name):
            path = os.path.join(directory, shown)
            if not os.path.lexists(path):
                continue
            # `exercises` itself may be a link out of the submission.
            if os.path.commonpath([os.path.realpath(os.path.dirname(path)), base]) != base:
                fail(f"{os.path.dirname(shown)} is a symbolic link to outside the submission")
            why = check_file(base, path, shown)
            if why:
                fail(why)
            taken[name] = (shown, read_text(path, shown))
            break
    os.makedirs(dest, exist_ok=True)
    for old in os.listdir(dest):
        os.remove(os.path.join(dest, old))
    for name, (shown, data) in sorted(taken.items()):
        with open(os.path.join(dest, name), "wb") as f:
            f.write(data)
        print(f"  taken: {shown}")
    if not taken:
        print(f"  no exercise file found in {directory} (looked for exercises/NN_topic.cpp and NN_topic.cpp)")


def valid_utf8(data, what):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{what} is not valid UTF-8 (byte {e.start})")


def load_reports(out):
    """(results as a dict, junit.xml's text), or raises ValueError saying what is wrong."""
    texts = {}
    for name in ("results.json", "junit.xml"):
        path = os.path.join(out, name)
        if not os.path.isfile(path):
            raise ValueError(f"coop_grade wrote no {name}")
        size = os.path.getsize(path)
        if size > MAX_REPORT:
            raise ValueError(f"{name} is {size} bytes, more than {MAX_REPORT}")
        with open(path, "rb") as f:
            texts[name] = valid_utf8(f.read(), name)
    try:
        results = json.loads(texts["results.json"])
    except json.JSONDecodeError as e:
        raise ValueError(f"results.json is not JSON: {e}")
    if not isinstance(results, dict) or not isinstance(results.get("tests", []), list):
        raise ValueError("results.json is not a Gradescope result (no tests list)")
    for test in results.get("tests", []):
        if not isinstance(test, dict) or not isinstance(test.get("score", 0), (int, float)):
            raise ValueError("results.json has a test without a numeric score")
        if isinstance(test.get("max_score"), (int, float)) and test.get("score", 0) > test["max_score"]:
            raise ValueError(f"results.json gives {test.get('name')!r} more than its max_score")
    try:
        root = ET.fromstring(texts["junit.xml"].encode("utf-8"))
    except ET.ParseError as e:
        raise ValueError(f"junit.xml is not well-formed XML: {e}")
    if root.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"junit.xml's root is <{root.tag}>, not <testsuites>")
    return results, texts["junit.xml"]


def xml_text(s):
    s = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", " ", s)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def integrity_entry(hits):
    return {
        "name": "integrity",
        "score": 0,
        "max_score": 0,
        "status": "failed",
        "visibility": "hidden",
        "output": "The submission uses what an exercise never needs (read it before trusting its score):\n"
        + "\n".join(hits[:200]),
    }


def write_all_or_nothing(dest, files):
    os.makedirs(dest, exist_ok=True)
    staged = []
    for name, text in files.items():
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=dest)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        staged.append((tmp, os.path.join(dest, name)))
    for tmp, final in staged:
        os.replace(tmp, final)


def finish(out, dest, integrity=None, build_log=None, problem=None, seconds=None):
    hits = []
    if integrity and os.path.isfile(integrity):
        with open(integrity, encoding="utf-8", errors="replace") as f:
            hits = [line.rstrip("\n") for line in f if line.strip()]
    try:
        if problem:
            raise ValueError(problem)
        results, junit = load_reports(out)
    except ValueError as e:
        reason = str(e)
        results = {"score": 0, "output": f"Grading failed: {reason}. Nothing was scored; tell your instructor.",
                   "tests": [integrity_entry(hits)] if hits else []}
        if seconds is not None:
            results["execution_time"] = seconds
        junit = ('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="coop exercises">\n'
                 '  <testsuite name="autograde" tests="1" failures="0" errors="1">\n'
                 f'    <testcase classname="autograde" name="grading"><error message="{xml_text(reason)}"/></testcase>\n'
                 "  </testsuite>\n</testsuites>\n")
        write_all_or_nothing(dest, {"results.json": json.dumps(results, indent=2, ensure_ascii=False) + "\n",
                                    "junit.xml": junit})
        print(f"make autograde: grading failed: {reason}", file=sys.stderr)
        return 1
    tests = results.setdefault("tests", [])
    if seconds is not None:
        # Gradescope's execution_time is the whole run: building the submission included,
        # not only the graders' time that coop_grade measured.
        results["execution_time"] = seconds
    if hits and not any("integrity" in str(t.get("name", "")).lower() for t in tests):
        tests.append(integrity_entry(hits))
    if build_log and os.path.isfile(build_log):
        with open(build_log, encoding="utf-8", errors="replace") as f:
            log = f.read()
        if log.strip():
            # The compiler's messages about the student's own files, so a submission that
            # does not compile says why. Not when an include reached outside the exercise:
            # its text would then be quoted back.
            if any("#include" in h for h in hits):
                log = "(compiler messages withheld: the submission includes files outside the exercise)\n"
            elif len(log) > 20000:
                log = log[:20000].rsplit("\n", 1)[0] + "\n… (cut)\n"
            results["output"] = (results.get("output") or "") + "\n\nWhat did not compile:\n" + log
    write_all_or_nothing(dest, {"results.json": json.dumps(results, indent=2, ensure_ascii=False) + "\n",
                                "junit.xml": junit})
    return 0


def sync(new, old):
    """Makes OLD's files those of NEW, touching only the files whose content differs (and
    removing those NEW lacks), so their times, and the build's view of them, stay."""
    import filecmp
    for top, dirs, files in os.walk(old, topdown=False):
        for name in files + dirs:
            path = os.path.join(top, name)
            twin = os.path.join(new, os.path.relpath(path, old))
            if not os.path.lexists(twin):
                if os.path.isdir(path) and not os.path.islink(path):
                    os.rmdir(path)
                else:
                    os.remove(path)
    for top, dirs, files in os.walk(new):
        target = os.path.join(old, os.path.relpath(top, new))
        os.makedirs(target, exist_ok=True)
        for name in files:
            src, dst = os.path.join(top, name), os.path.join(target, name)
            if not (os.path.isfile(dst) and filecmp.cmp(src, dst, shallow=False)):
                if os.path.lexists(dst):
                    os.remove(dst)
                shutil.copy2(src, dst)
                os.utime(dst)  # now: newer than anything built from the old one


def main(argv):
    if len(argv) == 3 and argv[0] == "sync":
        sync(argv[1], argv[2])
        return 0
    if len(argv) == 2 and argv[0] == "names":
        print("\n".join(accepted_names(argv[1])))
        return 0
    if len(argv) == 4 and argv[0] == "collect":
        collect(argv[1], argv[2], argv[3])
        return 0
    if len(argv) >= 3 and argv[0] == "finish":
        opts = {"--integrity": None, "--build-log": None, "--problem": None, "--seconds": None}
        rest = argv[3:]
        while rest:
            if rest[0] not in opts or len(rest) < 2:
                fail(f"submission.py: unknown option {rest[0]}")
            opts[rest[0]], rest = rest[1], rest[2:]
        seconds = opts["--seconds"]
        if seconds is not None and not seconds.isdigit():
            fail(f"submission.py: --seconds {seconds}: not a number of seconds")
        return finish(argv[1], argv[2], opts["--integrity"], opts["--build-log"], opts["--problem"],
                      int(seconds) if seconds is not None else None)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
