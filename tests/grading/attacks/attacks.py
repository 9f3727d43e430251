#!/usr/bin/env python3
"""attacks.py — hostile submissions against `make autograde`: nothing a submission does may
hang grading, outlive it, forge its result, or break the files it writes.

    attacks.py SOURCE_DIR WORK_DIR

Each submission holds nine exercise files, one attack in each (or a reference solution, which
must still score full marks beside the attacks: the others are graded), so one `make
autograde` tries many at once. The attacks are those of issue 14; after grading, every check
below must hold:
  - make autograde ends, exit 0, within MAX_SECONDS; results.json is JSON, junit.xml is
    well-formed XML (Python's parsers, and xmllint against junit.xsd beside this file), both
    valid UTF-8 and small;
  - no process of the graders' user is left, a grandchild started with setsid included, and
    a daemon cannot rewrite results.json afterwards;
  - each attack's own expectation (EXPECT below).
Bad input (no such directory, a file too large, binary junk, a symbolic link out of the
submission) is one line and a non-zero exit, quickly, with grade/ untouched.

It runs as root (the sealed mode's unprivileged user needs it) and only when COOP_ATTACKS=1
(`make attacks`; CI): otherwise it says why and exits 77, which CTest reports as skipped.
The course is taken from the working tree (AUTOGRADE_SOURCE=worktree), so what is tested is
what is being changed; the sealed tree is prepared once in WORK_DIR (a few minutes, then
reused while the course does not change; ATTACKS_AUTOGRADE_DIR names another to reuse).
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_SECONDS = 150  # one submission: the 2 minutes the issue allows, and slack for a busy machine
USER = "coop-grader"

PRELUDE = r"""// An attack on the autograder (tests/grading/attacks/attacks.py): not an answer.
#include <fcntl.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {
// The autograder's layout, as a fully informed attacker would know it: this grader is
// <dir>/tree/build/tests/grade_exercise_NN.
[[maybe_unused]] std::string exe_dir() {
  char buf[4096] = {};
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string p(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  return p.substr(0, p.rfind('/'));
}
// A report saying every part of exercise NN passed, with the names from the course's list.
[[maybe_unused]] std::string forged_report(const char* nn) {
  std::ifstream list(exe_dir() + "/../../src/course/exercises.list");
  std::string line, out;
  while (std::getline(list, line)) {
    std::istringstream w(line);
    std::string kind, id, topic, points, visibility, name;
    w >> kind >> id;
    if (kind == "exercise" && id == nn) {
      w >> topic;
      std::getline(w >> std::ws, name);
      out += "exercise\t" + id + "\t" + topic + "\t" + name + "\n";
    } else if (kind == "part" && id.rfind(std::string(nn) + ".", 0) == 0) {
      w >> points >> visibility;
      std::getline(w >> std::ws, name);
      out += "part\t" + id.substr(3) + "\tpassed\t0.01\t" + name + "\t\t\t\n";
    }
  }
  return out + "end\tdone\n";
}
[[maybe_unused]] void write_everywhere(const std::string& text) {
  (void)!::write(3, text.data(), text.size());
  std::ifstream cmd("/proc/self/cmdline");
  std::string arg, prev;
  while (std::getline(cmd, arg, '\0')) {
    if (prev == "--report") std::ofstream(arg) << text;
    prev = arg;
  }
}
}  // namespace
"""

# name: (kind, code). kind "static": run at static initialisation; "part": run inside a part,
# just before each stub's exercise::todo; "append": code at the end of the file; "bare": the same
# without the prelude (its includes are what the text scan flags).
ATTACKS = {
    "hang_static": ("static", "for (volatile int i = 0;; i = i) {}"),
    "sigstop_static": ("static", "raise(SIGSTOP);"),
    "sleep_static": ("static", "std::this_thread::sleep_for(std::chrono::seconds(20));"),
    "kill0_part": ("part", "kill(0, SIGKILL);"),
    "setsid_grandchild_part": ("part", """
      if (fork() == 0) {
        setsid();
        if (fork() == 0) for (;;) sleep(1);
        _exit(0);
      }
      sleep(1);"""),
    "memory_3gib_part": ("part", "std::vector<char> v(3ull << 30, 1); std::printf(\"%d\\n\", v[12345]);"),
    "forge_pipe_static": ("static", 'write_everywhere(forged_report("@NN@")); _exit(0);'),
    "euro_part": ("part", 'for (int i = 0; i < 2000; ++i) std::fputs("€", stdout); std::fflush(stdout);'),
    "lines_2m_part": ("part", 'for (int i = 0; i < 2000000; ++i) std::puts("a line"); std::fflush(stdout);'),
    "interpose_write": ("append", r"""
extern "C" ssize_t write(int fd, const void* buf, size_t n) {
  std::string s(static_cast<const char*>(buf), n);
  for (const char* from : {"\tnot started\t", "\tfailed\t"})
    for (std::size_t at; (at = s.find(from)) != std::string::npos;) s.replace(at, std::strlen(from), "\tpassed\t");
  (void)syscall(SYS_write, fd, s.data(), s.size());
  return static_cast<ssize_t>(n);
}"""),
    # The same forgery with nothing the text scan looks for: `write` is defined with the
    # signature a coop header already declared with C linkage, so it has C linkage without
    # saying so, and dprintf reaches the C library's own write. Only the compiled object
    # shows it (integrity.py --object).
    "interpose_write_unmarked": ("bare", r"""
ssize_t write(int fd, const void* buf, size_t n) {
  std::string s(static_cast<const char*>(buf), n);
  for (const std::string from : {"\tnot started\t", "\tfailed\t"})
    for (std::size_t at; (at = s.find(from)) != std::string::npos;) s.replace(at, from.size(), "\tpassed\t");
  return dprintf(fd, "%.*s", static_cast<int>(s.size()), s.data()) < 0 ? -1 : static_cast<ssize_t>(n);
}"""),
    "atexit_rewrite_static": ("static", 'std::atexit([] { write_everywhere(forged_report("@NN@")); });'),
    "daemon_static": ("static", """
      // Objects that outlive every process: System V shared memory, a semaphore, a queue.
      (void)shmget(IPC_PRIVATE, 1 << 20, IPC_CREAT | 0600);
      (void)semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
      (void)msgget(IPC_PRIVATE, IPC_CREAT | 0600);
      if (fork() == 0) {
        setsid();
        if (fork() == 0) {
          for (int i = 0; i < 300; ++i) {
            for (const char* p : {"@OUT@/results.json", "@OUT@/junit.xml"})
              std::ofstream(p) << "{\\"score\\": 1000, \\"tests\\": []}";
            usleep(100000);
          }
          _exit(0);
        }
        _exit(0);
      }"""),
    "replace_grader_static": ("static", """
      const std::string other = exe_dir() + "/grade_exercise_@VICTIM@";
      std::remove(other.c_str());
      std::ofstream(other) << "#!/bin/sh\\nexit 0\\n";
      chmod(other.c_str(), 0755);
      std::ofstream(exe_dir() + "/../../src/course/exercises.list", std::ios::app) << "part 01.99 1000 visible forged\\n";"""),
}

# Attacks that write a report of their own from inside the grader's process: no report
# validation can tell a perfect forgery from the grader's own words.
FORGERIES = {"forge_pipe_static", "interpose_write", "interpose_write_unmarked"}

SUBMISSIONS = {
    # Gradescope's flat layout: NN_topic.cpp at the top.
    "a": {"layout": "flat", "files": {
        "01": "hang_static", "02": "sigstop_static", "03": "sleep_static", "04": "kill0_part",
        "05": "setsid_grandchild_part", "06": "memory_3gib_part", "07": "forge_pipe_static",
        "08": "euro_part", "09": "solution"}},
    # A student's repository: exercises/NN_topic.cpp, with headers of their own that must not
    # be used (each holds #error).
    "b": {"layout": "repository", "files": {
        "01": "interpose_write", "02": "solution+grading_namespace", "03": "solution", "04": "atexit_rewrite_static",
        "05": "daemon_static", "06": "replace_grader_static", "07": "lines_2m_part", "08": "interpose_write_unmarked",
        "09": "solution"}},
}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, errors="replace", **kw)


class Checks:
    def __init__(self):
        self.failed = []

    def expect(self, ok, what, known=None):
        """known: the feature it waits for, when it is expected to fail until that lands."""
        mark = "ok  " if ok else ("WAIT" if known else "FAIL")
        print(f"  [{mark}] {what}" + (f"  (needs: {known})" if not ok and known else ""))
        if not ok:
            self.failed.append(what)


def exercise_files(tree):
    names = {}
    for line in open(os.path.join(tree, "course", "exercises.list"), encoding="utf-8") if os.path.isfile(
            os.path.join(tree, "course", "exercises.list")) else []:
        m = re.match(r"\s*exercise\s+(\d\d)\s+(\w+)", line)
        if m:
            names[m.group(1)] = f"{m.group(1)}_{m.group(2)}"
    if not names:
        for f in sorted(os.listdir(os.path.join(tree, "exercises"))):
            if re.fullmatch(r"\d\d_\w+\.cpp", f):
                names[f[:2]] = f[:-4]
    return names


def attack_source(stub, kind, code):
    if kind == "static":
        return PRELUDE + stub + f"\nnamespace {{\n[[maybe_unused]] const int attack = [] {{\n{code}\n  return 0;\n}}();\n}}\n"
    if kind == "append":
        return PRELUDE + stub + "\n" + code + "\n"
    if kind == "bare":  # appended, without the prelude's includes (which the text scan flags)
        return stub + "\n" + code + "\n"
    # In a part: before every stub's exercise::todo, so whichever part the grader runs first
    # runs it.
    return PRELUDE + re.sub(r"^([ \t]*)(exercise::todo\()", lambda m: m.group(1) + "{\n" + code + "\n}\n"
                            + m.group(1) + m.group(2), stub, flags=re.M)


def make_submission(key, spec, source, tree, work, out):
    names = exercise_files(tree)
    folder = os.path.join(work, f"submission-{key}")
    shutil.rmtree(folder, ignore_errors=True)
    target = folder if spec["layout"] == "flat" else os.path.join(folder, "exercises")
    os.makedirs(target)
    for nn, what in spec["files"].items():
        name = names[nn]
        if what.startswith("solution"):
            text = open(os.path.join(source, "solutions", name + ".cpp"), encoding="utf-8").read()
            if what.endswith("+grading_namespace"):
                text += "\nnamespace grading {\ninline void check(bool, const char*) {}\n}  // namespace grading\n"
        else:
            kind, code = ATTACKS[what]
            stub = open(os.path.join(tree, "exercises", name + ".cpp"), encoding="utf-8").read()
            code = (code.replace("@NN@", nn).replace("@OUT@", out).replace("@VICTIM@", "09")
)
            text = attack_source(stub, kind, code)
        open(os.path.join(target, name + ".cpp"), "w", encoding="utf-8").write(text)
        if spec["layout"] == "repository":
            open(os.path.join(target, name + ".hpp"), "w").write("#error the submitted header must not be used\n")
    return folder


def user_ipc():
    """The System V IPC objects the graders' user made or owns (ipcs -c: id perms cuid cgid
    uid gid, names in full; the default listing cuts them to 10 characters)."""
    left = []
    for kind in ("m", "s", "q"):
        out = subprocess.run(["ipcs", "-" + kind, "-c"], capture_output=True, text=True).stdout
        left += [f"{kind}:{f[0]}" for f in (line.split() for line in out.splitlines())
                 if len(f) >= 6 and f[0].isdigit() and USER in (f[2], f[4])]
    return " ".join(left)


def user_processes():
    r = run(["pgrep", "-u", USER, "-l"])
    return r.stdout.strip()


def validate(out, checks):
    results = junit = None
    try:
        raw = open(os.path.join(out, "results.json"), "rb").read()
        results = json.loads(raw.decode("utf-8"))
        checks.expect(True, f"results.json is UTF-8 JSON ({len(raw)} bytes)")
        checks.expect(len(raw) < 1_000_000, "results.json is under 1 MB")
    except (OSError, ValueError) as e:
        checks.expect(False, f"results.json is UTF-8 JSON: {e}")
    try:
        raw = open(os.path.join(out, "junit.xml"), "rb").read()
        raw.decode("utf-8")
        junit = ET.fromstring(raw)
        checks.expect(True, f"junit.xml is well-formed UTF-8 XML ({len(raw)} bytes)")
        checks.expect(len(raw) < 2_000_000, "junit.xml is under 2 MB")
    except (OSError, ValueError, ET.ParseError) as e:
        checks.expect(False, f"junit.xml is well-formed UTF-8 XML: {e}")
    if shutil.which("xmllint") and junit is not None:
        r = run(["xmllint", "--noout", "--schema", os.path.join(HERE, "junit.xsd"), os.path.join(out, "junit.xml")])
        checks.expect(r.returncode == 0, "junit.xml is valid against the JUnit schema (xmllint)"
                      + ("" if r.returncode == 0 else ": " + r.stderr.strip().splitlines()[0][:200]))
    return results, junit


def tests_of(results, nn):
    return [t for t in (results or {}).get("tests", [])
            if re.match(rf"\s*{nn}\b", str(t.get("number", ""))) or str(t.get("name", "")).startswith(nn)]


def score(tests):
    return sum(t.get("score", 0) for t in tests), sum(t.get("max_score", 0) for t in tests)


def said(tests, *words):
    text = " ".join(str(t.get("output", "")) + " " + str(t.get("status", "")) for t in tests).lower()
    return any(w in text for w in words)


def grade(root, work, folder, out, env):
    start = time.monotonic()
    try:
        r = run(["make", "--no-print-directory", "-C", root, "autograde", f"SUBMISSION={folder}"], env=env,
                timeout=MAX_SECONDS * 3)
        code, log = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired:
        code, log = "timeout", ""
    return code, log, time.monotonic() - start


def main(argv):
    if len(argv) != 2:
        print("usage: attacks.py SOURCE_DIR WORK_DIR", file=sys.stderr)
        return 2
    if os.environ.get("COOP_ATTACKS") != "1":
        print("attacks: skipped (set COOP_ATTACKS=1, or run make attacks: they take a few minutes)")
        return 77
    if os.geteuid() != 0:
        print("attacks: skipped (they need root: the graders run as an unprivileged user)")
        return 77
    root, work = (os.path.abspath(a) for a in argv)
    os.makedirs(work, exist_ok=True)
    # ATTACKS_AUTOGRADE_DIR: a sealed tree already prepared from this working tree, to reuse.
    ag = os.environ.get("ATTACKS_AUTOGRADE_DIR") or os.path.join(work, "autograde")
    out = os.path.join(work, "grade")
    env = dict(os.environ, AUTOGRADE_DIR=ag, AUTOGRADE_OUT=out)
    env.setdefault("AUTOGRADE_SOURCE", "worktree")
    t = time.monotonic()
    r = run(["bash", os.path.join(root, "course", "autograde", "autograde.sh"), "setup"], env=env, cwd=root)
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        return 1
    print(f"sealed tree ready in {time.monotonic() - t:.0f} s")
    tree = os.path.join(ag, "pristine", "src")
    names = exercise_files(tree)
    checks = Checks()

    # ---- bad input: one line, non-zero, quickly, grade/ untouched -----------------------------
    print("bad input")
    bad = os.path.join(work, "bad")
    shutil.rmtree(bad, ignore_errors=True)
    cases = {}
    os.makedirs(os.path.join(bad, "large"))
    open(os.path.join(bad, "large", names["03"] + ".cpp"), "w").write("// x\n" * 200000)
    os.makedirs(os.path.join(bad, "binary"))
    open(os.path.join(bad, "binary", names["03"] + ".cpp"), "wb").write(bytes(range(256)) * 4)
    os.makedirs(os.path.join(bad, "symlink", "exercises"))
    os.symlink(os.path.join(root, "solutions", names["03"] + ".cpp"),
               os.path.join(bad, "symlink", "exercises", names["03"] + ".cpp"))
    os.makedirs(os.path.join(bad, "linkdir"))
    os.symlink(os.path.join(root, "solutions"), os.path.join(bad, "linkdir", "exercises"))
    os.makedirs(os.path.join(bad, "fifo"))
    os.mkfifo(os.path.join(bad, "fifo", names["03"] + ".cpp"))
    cases = {"no such directory": os.path.join(bad, "missing"), "a file too large": os.path.join(bad, "large"),
             "binary junk": os.path.join(bad, "binary"), "a symbolic link out": os.path.join(bad, "symlink"),
             "exercises/ a link out": os.path.join(bad, "linkdir"), "a FIFO": os.path.join(bad, "fifo")}
    os.makedirs(out, exist_ok=True)
    marker = os.path.join(out, "results.json")
    open(marker, "w").write('{"before": true}')
    for what, folder in cases.items():
        code, log, took = grade(root, work, folder, out, env)
        lines = [line for line in log.splitlines() if line.startswith("make autograde:")]
        checks.expect(code not in (0, "timeout") and len(lines) == 1 and took < 30,
                      f"{what}: exit {code} in {took:.1f} s, {lines[:1]}")
    checks.expect(open(marker).read() == '{"before": true}', "bad input left grade/ untouched")

    # ---- nothing handed in: graded, every exercise "not submitted", not "does not compile" ------
    empty = os.path.join(work, "empty")
    shutil.rmtree(empty, ignore_errors=True)
    os.makedirs(empty)
    open(os.path.join(empty, "README.md"), "w").write("my answers are elsewhere\n")
    code, log, took = grade(root, work, empty, out, env)
    results, _ = validate(out, checks)
    if results is not None:
        said_why = [t for t in results.get("tests", []) if "not submitted" in str(t.get("output", ""))]
        checks.expect(code == 0 and results.get("score") == 0 and len(said_why) == results.get("max_score"),
                      f"an empty submission: exit {code}, score {results.get('score')}, "
                      f"{len(said_why)} of {results.get('max_score')} parts say 'not submitted'")

    # ---- the hostile submissions ----------------------------------------------------------------
    for key, spec in SUBMISSIONS.items():
        print(f"submission {key}: " + ", ".join(f"{nn} {what}" for nn, what in spec["files"].items()))
        folder = make_submission(key, spec, root, tree, work, out)
        code, log, took = grade(root, work, folder, out, env)
        print("    " + "\n    ".join(log.strip().splitlines()[-14:]))
        checks.expect(code == 0, f"make autograde exits 0 (got {code})")
        checks.expect(took < MAX_SECONDS, f"graded in {took:.0f} s (at most {MAX_SECONDS})", known="coop_grade's limits")
        results, _ = validate(out, checks)
        checks.expect(user_processes() == "", f"no process of {USER} is left: {user_processes()!r}")
        before = hashlib.sha256(open(os.path.join(out, "results.json"), "rb").read()).hexdigest() \
            if os.path.exists(os.path.join(out, "results.json")) else ""
        if results is None:
            continue
        spent = results.get("execution_time")
        checks.expect(isinstance(spent, int) and spent >= took - 15,
                      f"execution_time is the whole run, the build included ({spent} s of {took:.0f} s)")
        integrity = [t for t in results.get("tests", []) if str(t.get("name", "")).startswith("integrity")]
        for nn, what in spec["files"].items():
            tests = tests_of(results, nn)
            got, best = score(tests)
            label = f"{nn} {what}: {got}/{best}"
            if what.startswith("solution"):
                checks.expect(best > 0 and got == best, f"{label}: full marks beside the attacks")
            else:
                checks.expect(best > 0, f"{label}: every listed part reported", known="coop_grade reading the list")
                if what in FORGERIES:
                    # Native code in the grader can forge a well-formed report; what is required
                    # is that the integrity scan flags it (below). The score is shown, not checked.
                    print(f"  [info] {label}: {'forged, and flagged below' if got else 'no credit'}")
                else:
                    checks.expect(got == 0, f"{label}: no credit")
            if what in ("hang_static", "sleep_static"):
                checks.expect(said(tests, "timed out"), f"{label}: says it timed out", known="coop_grade's limits")
            if what == "sigstop_static":
                checks.expect(said(tests, "stopped"), f"{label}: says it was stopped", known="coop_grade's limits")
        flagged = " ".join(str(t.get("output", "")) for t in integrity)
        for nn, what in spec["files"].items():
            if what == "solution":
                checks.expect(f"{names[nn]}.cpp" not in flagged, f"{nn} solution: no integrity hit")
            elif what not in ("memory_3gib_part", "euro_part", "lines_2m_part", "hang_static", "sleep_static"):
                checks.expect(f"{names[nn]}.cpp" in flagged, f"{nn} {what}: flagged by the integrity scan")
            if what == "interpose_write_unmarked":
                checks.expect(f"{names[nn]}.cpp: defines `write` with C linkage" in flagged,
                              f"{nn} {what}: flagged from its compiled object")
        if integrity:
            checks.expect(all(t.get("visibility") == "hidden" for t in integrity), "the integrity entry is hidden")
        time.sleep(3)
        after = hashlib.sha256(open(os.path.join(out, "results.json"), "rb").read()).hexdigest()
        checks.expect(before == after, "results.json unchanged 3 s after grading ended")
        checks.expect(user_processes() == "", f"still no process of {USER}")
        checks.expect(user_ipc() == "", f"no System V IPC object of {USER} is left: {user_ipc()!r}")

    print(f"\n{len(checks.failed)} check(s) failed")
    for f in checks.failed:
        print(f"  {f}")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
