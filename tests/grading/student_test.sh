#!/usr/bin/env bash
# student_test.sh — a scripted student, to prove the grading reports what happened.
#
# In a temporary clone of this repository the student solves exercise 01 (copies its
# solution), gets exercise 03 wrong (awaits one fetch after the other: right results, wrong
# time), makes exercise 04 hang (blocks in sleep_for), 05 crash, 06 deadlock, 07 throw and
# 08 spin forever without awaiting; and, before any part can run, 02 spin forever and 09
# stop itself (SIGSTOP) while static objects are initialised. Then `make test` must fail
# and say exactly that, within a bound; the tooling's own tests (CTest course/commands among
# them) must still pass, although an exercise was solved by copying its solution; and
# `make grade` must write results.json and junit.xml that say the same. Last, under
# `./coop watch`, the student saves a right answer and 1.5 s later a wrong one, while the
# first is still compiling: the wrong one must be what is graded.
#
# CI runs this (.ci/run). It builds the whole clone first (minutes; not counted), then
# `make test` must take under 300 s; the rest takes about a minute.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/coop-student.XXXXXX)
watcher=""
trap '[ -z "$watcher" ] || kill -9 "$watcher" 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "student_test: $*" >&2; exit 1; }

# A student builds without CI's -Werror (WERROR=1): the scripted broken exercises (a
# spin loop before unreachable code, say) would otherwise fail to compile, not run.
unset WERROR
git clone -q "$repo" "$work/coop"
cd "$work/coop"

# 01: solved, by copying its solution.
cp solutions/01_coroutines.cpp exercises/01_coroutines.cpp
# 03: a wrong answer: the two fetches one after the other.
cp solutions/03_gather.cpp exercises/03_gather.cpp
python3 - <<'EOF'
import re
p = "exercises/03_gather.cpp"
s = open(p).read()
start = s.index("coop::Task<std::pair<std::string, std::string>> fetch_both(Source a, Source b) {")
end = s.index("\n}\n", start) + 3
s = s[:start] + """coop::Task<std::pair<std::string, std::string>> fetch_both(Source a, Source b) {
  std::string ra = co_await fetch(a.name, a.latency);  // one after the other: the sum
  std::string rb = co_await fetch(b.name, b.latency);
  co_return std::pair{ra, rb};
}
""" + s[end:]
open(p, "w").write(s)
EOF
cp exercises/03_gather.cpp "$work/03_wrong.cpp"
# 02: spins forever at static initialisation (before main, so before any part);
# 09: stops itself there (SIGSTOP: a process that is stopped never exits by itself).
printf '\nstatic int spins_forever = [] { for (volatile int i = 0;; i = i) {} return 0; }();\n' >>exercises/02_scaling_wall.cpp
sed -i '1i #include <csignal>' exercises/09_executor.cpp
printf '\nstatic int stops_itself = [] { std::raise(SIGSTOP); return 0; }();\n' >>exercises/09_executor.cpp
# 04: every stub sleeps for an hour (each part hangs); 05: every stub crashes.
sed -i 's/^\( *\)exercise::todo(/\1std::this_thread::sleep_for(std::chrono::hours(1)); exercise::todo(/' exercises/04_create_task.cpp
sed -i '1i #include <chrono>\n#include <thread>' exercises/04_create_task.cpp
sed -i 's/^\( *\)exercise::todo(/\1std::raise(SIGSEGV); exercise::todo(/' exercises/05_cancellation.cpp
sed -i '1i #include <csignal>' exercises/05_cancellation.cpp
# 06: every stub deadlocks (awaits an Event nobody sets); 07: every stub throws;
# 08: every stub spins forever without awaiting (the loop never gets control back).
sed -i 's/^\( *\)exercise::todo(/\1{ coop::Event never("never set"); co_await never.wait(); } exercise::todo(/' exercises/06_async_with.cpp
sed -i 's/^\( *\)exercise::todo(/\1throw std::runtime_error("student bug"); exercise::todo(/' exercises/07_async_for.cpp
sed -i '1i #include <stdexcept>' exercises/07_async_for.cpp
sed -i 's/^\( *\)exercise::todo(/\1for (static std::atomic<unsigned> spins;;) spins.fetch_add(1, std::memory_order_relaxed); exercise::todo(/' exercises/08_atomicity.cpp
sed -i '1i #include <atomic>' exercises/08_atomicity.cpp

# Build first (not timed), then time the grading.
make build-keep-going >/dev/null 2>&1 || true
start=$(date +%s)
set +e
make test >"$work/test.out" 2>&1
rc=$?
set -e
took=$(( $(date +%s) - start ))
table=$(sed -n '/^Exercises:/,$p' "$work/test.out")
echo "$table"
[ $rc -ne 0 ] || fail "make test passed, but exercises 03, 04 and 05 are broken"
grep -Eq '^  01 coroutines +done ' <<<"$table" || fail "exercise 01 (solved) is not reported done"
grep -Eq '^  03 gather +FAILING .*part 1 failed: fetch_both: at most 1 of the 2 fetches were in flight' <<<"$table" ||
  fail "exercise 03 (sequential) is not reported failing for fetching one at a time"
grep -Eq '^  04 create_task +FAILING .*part 1 hang' <<<"$table" || fail "exercise 04 is not reported as a hang"
grep -Eq '^  05 cancellation +FAILING .*part 1 crash: .*signal 11' <<<"$table" || fail "exercise 05 is not reported as a crash"
grep -Eq '^  06 async_with +FAILING .*part 1 hang: deadlock: the main task can never finish' <<<"$table" ||
  fail "exercise 06 (deadlocked) is not reported as a deadlock"
grep -Eq '^  07 async_for +FAILING .*part 1 failed: threw std::runtime_error: student bug' <<<"$table" ||
  fail "exercise 07 (throws) is not reported failing with the exception"
grep -Eq '^  08 atomicity +FAILING .*part 1 hang' <<<"$table" || fail "exercise 08 (spins forever) is not reported as a hang"
grep -Eq '^  02 scaling_wall +.*timed out after [0-9.]+ s \(before its first part\)' <<<"$table" ||
  fail "exercise 02 (spins at static initialisation) is not reported as timed out before its first part"
grep -Eq '^  09 executor +.*stopped' <<<"$table" || fail "exercise 09 (SIGSTOP at static initialisation) is not reported as stopped"
grep -q '^Next: exercise 02' <<<"$table" || fail "the next exercise should be 02, the first failing one"
# Each hanging part or grader costs its time limit and no more; everything else is quick.
[ "$took" -lt 300 ] || fail "make test took ${took} s after the build (the bound is 300 s)"
# The tooling's tests never read the student's exercises/: a solved exercise (01, copied
# from its solution) and exercises that hang keep them green. Only the grading fails.
grep -Eq 'course/commands +\.+ +Passed' "$work/test.out" || fail "CTest course/commands did not pass: $(grep -A3 'course/commands' "$work/test.out" | head -n 20)"
! grep -q 'The following tests FAILED' "$work/test.out" ||
  fail "CTest failed although only the student's exercises are broken: $(sed -n '/The following tests FAILED/,$p' "$work/test.out" | head -n 20)"

make grade >"$work/grade.out" 2>&1 || fail "make grade failed: $(tail -n 5 "$work/grade.out")"
python3 - grade/results.json grade/junit.xml <<'EOF'
import json, sys, xml.etree.ElementTree as ET
r = json.load(open(sys.argv[1]))
tests = {t["number"]: t for t in r["tests"]}
def status(n): return tests[n]["status"]
assert r["max_score"] == len(r["tests"]) and r["score"] == sum(t["score"] for t in r["tests"]), "scores do not add up"
assert all(status(k) == "passed" for k in tests if k.startswith("1.")), "exercise 01 should pass"
assert status("3.1") == "failed" and "in flight" in tests["3.1"]["output"], "3.1 should fail: one fetch at a time"
assert status("4.1") == "failed" and tests["4.1"]["output"].startswith("hang"), "4.1 should be a hang"
assert status("5.1") == "failed" and tests["5.1"]["output"].startswith("crash"), "5.1 should be a crash"
assert status("6.1") == "failed" and tests["6.1"]["output"].startswith("hang") and "never set" in tests["6.1"]["output"], \
    "6.1 should be a hang (deadlock) naming the Event"
assert status("7.1") == "failed" and "student bug" in tests["7.1"]["output"], "7.1 should fail with the exception"
assert status("8.1") == "failed" and tests["8.1"]["output"].startswith("hang"), "8.1 should be a hang (spins)"
suites = ET.parse(sys.argv[2]).getroot()
# A wrong answer is a <failure>; a hang, crash or time-out an <error> (the check could not run).
failures = sum(int(s.get("failures")) + int(s.get("errors")) for s in suites)
assert failures == sum(1 for t in r["tests"] if t["status"] == "failed"), "junit.xml and results.json disagree"
print(f"results.json: {r['score']} / {r['max_score']}; junit.xml: {failures} failures and errors")
EOF
# A save during a build: the right answer, then 1.5 s later (while it still compiles) the wrong
# one. ./coop watch must end on the wrong one: a build keyed on timestamps finds the grader
# newer than the second save and grades the first, and stays "done" until the next save.
# The first save carries a fresh constant, so that no compiler cache can make its build
# quicker than the 1.5 s (a quicker build would grade it before the second save: right, but
# not the case under test). The watch runs on until a grading of the second save shows, so a
# fast machine that grades both saves passes too; a stale one never shows it.
./coop watch 3 >"$work/watch.out" 2>&1 </dev/null &
watcher=$!
for _ in $(seq 1200); do grep -q '^Watching exercises/' "$work/watch.out" && break; sleep 0.1; done
grep -q '^Watching exercises/' "$work/watch.out" || { kill -9 $watcher; fail "./coop watch did not start: $(tail "$work/watch.out")"; }
{ cat solutions/03_gather.cpp
  echo "[[maybe_unused]] static const char* const student_test_saved_at = \"$(date +%s%N)\";"; } >exercises/03_gather.cpp
sleep 1.5
cp "$work/03_wrong.cpp" exercises/03_gather.cpp
for _ in $(seq 1200); do
  sed -n '/^──── exercises\/03_gather.cpp saved/,$p' "$work/watch.out" | grep -q '^  exercise 03: failing' && break
  kill -0 $watcher 2>/dev/null || break
  sleep 0.1
done
kill -INT $watcher 2>/dev/null; wait $watcher || true
watcher=""
sed -n '/^──── exercises\/03_gather.cpp saved/,$p' "$work/watch.out" >"$work/saved.out"
last=$(grep '^  exercise 03: ' "$work/saved.out" | tail -n 1)
[[ $last == '  exercise 03: failing'* ]] ||
  fail "the double save was graded as the first save, not the second (after 120 s ./coop watch last said: ${last:-nothing})"

watcher=""
echo "student_test: make test reported solved, wrong, hanging, crashing, deadlocked, throwing, spinning and" \
  "stuck-before-main exercises correctly (${took} s); the tooling's tests stayed green; a save during a build was graded"
