#!/usr/bin/env bash
# course_test.sh — drives every subcommand of the course command as a student would.
#
#   course_test.sh COURSE REAL_BUILD SOURCE
#
# It never reads the student's exercises/ (only the names of the files there, which are the
# course's): it works in a temporary repository of its own whose exercise files are stand-ins
# it writes, each a few comment lines with markers (`// course_test: stub`, `failing`, `done`,
# `slow`, `warning`; an `#error` line), and a stand-in build directory (fake_build/ here) that
# maps those markers to graders: a fake grader for the markers, the real build's grader of the
# reference solution for a file that is exactly the solution, a compile error for `#error`.
# So solving, breaking or hanging an exercise in the real exercises/ changes nothing here,
# and the graders built from the student's code are never run. Where the course ships no
# solutions/ (a student release), the steps that need them are skipped. Nothing of the
# course is compiled again, and the real build's state (build/grade-state) is left alone.
# CTest runs it (label `course`).
set -euo pipefail
course_bin=$(realpath "$1") real=$(realpath "$2") src=$(realpath "$3")
for f in "$course_bin" "$real/tests/coop_grade" "$real/lessons/lesson01"; do
  [ -x "$f" ] || { echo "course_test: $f is not built (build everything first)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/coop-course.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "course_test: $*" >&2; exit 1; }
step() { echo "-- $*"; }

# ---- the stand-in repository, and the stand-in build ------------------------------------------
repo=$work/repo build=$work/build
mkdir -p "$repo/exercises" "$repo/lessons"
solutions=""
if [ -d "$src/solutions" ]; then cp -r "$src/solutions" "$repo/"; solutions=yes; fi
cp "$src"/lessons/[0-9][0-9]_*.cpp "$repo/lessons/"

# put FILE MARKER...: writes the stand-in exercises/FILE, with these markers.
put() {
  local file=$repo/exercises/$1; shift
  { echo "// A stand-in exercise file, written by course_test.sh."; for m in "$@"; do echo "// course_test: $m"; done; } >"$file"
}
# solve FILE: exercises/FILE becomes a right answer: the reference solution where there is
# one (graded by the real build's solution grader), else the stand-in `done`.
solve() {
  local name=$1 as=${2:-$1}
  if [ -n "$solutions" ]; then cp "$repo/solutions/$name" "$repo/exercises/$as"; else put "$as" done; fi
}
# The exercises are the course's one list (course/exercises.list) where there is one, else
# the names of the files in exercises/ (names only: what they hold is the student's).
if [ -f "$src/course/exercises.list" ]; then
  mkdir -p "$repo/course" && cp "$src/course/exercises.list" "$repo/course/"
  names=$(sed -n 's/^exercise \([0-9][0-9]\) \([A-Za-z0-9_]*\) .*/\1_\2/p' "$src/course/exercises.list")
else
  names=$(cd "$src/exercises" && for f in [0-9][0-9]_*.cpp; do echo "${f%.cpp}"; done)
fi
for name in $names; do
  put "$name.cpp" stub
  printf '// The stand-in contract of exercise %s, written by course_test.sh.\n#pragma once\n' "${name%%_*}" \
    >"$repo/exercises/$name.hpp"
done
printf '// The stand-in of exercise.hpp, written by course_test.sh.\n#pragma once\n' >"$repo/exercises/exercise.hpp"
git -C "$repo" init -q
git -C "$repo" add -A
git -C "$repo" -c user.name=course_test -c user.email=course_test@localhost commit -q -m "the stubs"
generator=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$real/CMakeCache.txt")
cmake -S "$src/course/test/fake_build" -B "$build" -G "$generator" -DREAL="$real" -DROOT="$repo" \
  -DCOURSE="$course_bin" >"$work/configure.log" || { cat "$work/configure.log"; fail "cannot set up the stand-in build"; }

export COOP_ROOT=$repo COOP_BUILD=$build COOP_LAUNCHER=./coop
course() { "$course_bin" "$@"; }
state=$build/grade-state
files_before=$(cd "$repo" && find exercises | sort)

# says PATTERN CMD...: CMD's output (stdout and stderr) has a line that matches PATTERN. (Not
# `CMD | grep -q`: grep would stop reading at the first match, and pipefail see a SIGPIPE.)
says() {
  local pattern=$1; shift
  "$@" >"$work/said" 2>&1 || true
  grep -q -- "$pattern" "$work/said"
}

# Runs the command; its exit status must be $1, with exactly one line on stderr and nothing
# on stdout: how bad input is answered.
one_line() {
  local want=$1; shift
  local rc=0
  "$@" >"$work/out" 2>"$work/err" </dev/null || rc=$?
  [ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want: $(cat "$work/err")"
  [ "$(wc -l <"$work/err")" = 1 ] || fail "'$*' should say one line on stderr, said: $(cat "$work/err")"
  [ ! -s "$work/out" ] || fail "'$*' printed on stdout: $(cat "$work/out")"
  echo "   $(cat "$work/err")"
}
wait_for() {  # wait_for FILE PATTERN SECONDS
  for _ in $(seq $(($3 * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  fail "waited $3 s for '$2' in $(basename "$1"): $(cat "$1" 2>/dev/null)"
}
ended() {  # ended PID SECONDS: its exit status, once it has ended (killed if it does not)
  for _ in $(seq $(($2 * 10))); do kill -0 "$1" 2>/dev/null || { wait "$1"; return $?; }; sleep 0.1; done
  kill -9 "$1"; fail "pid $1 did not end within $2 s"
}

# ---- bad input: one line, non-zero ---------------------------------------------------------------
step "bad input"
one_line 2 course run 12
one_line 2 course run x
one_line 2 course run 3 4
one_line 2 course hint 0
one_line 2 course lesson 42
one_line 2 course reset
one_line 2 course solution 1 --width 5
one_line 2 course frobnicate
one_line 2 course --frobnicate
one_line 2 course watch --frobnicate
one_line 1 env COOP_BUILD="$work/nowhere" "$course_bin" run 3
course --help >"$work/out" || fail "--help failed"
for sub in run hint watch lesson reset solution; do grep -q "^  $sub " "$work/out" || fail "--help does not list $sub"; done

# ---- run: a solved exercise is done, and the next one is offered ------------------------------
step "run 1, solved"
solve 01_coroutines.cpp
course run 1 >"$work/out" || fail "run 1 (solved) exited non-zero: $(cat "$work/out")"
grep -q '✓ part 1 ' "$work/out" || fail "run 1 does not show each check"
grep -q '^  exercise 01: done' "$work/out" || fail "run 1 (solved) is not done"
grep -q '^Progress .* 1 of 9 done' "$work/out" || fail "run 1 shows no progress bar"
grep -q '^Next: exercise 02 .*\./coop lesson 2 .*\./coop run 2' "$work/out" || fail "run 1 does not offer exercise 02"
grep -q '^last 1$' "$state/course.state" || fail "run 1 did not remember exercise 01"

step "run 9, a stub"
course run 9 >"$work/out" || fail "run 9 (not started) should exit 0"
grep -q "○ part 1 " "$work/out" || fail "run 9 does not show the checks"
grep -q "^  exercise 09: not started" "$work/out" || fail "run 9 is not 'not started'"
grep -q "\./coop watch grades it" "$work/out" || fail "run 9 does not say what to do"

step "run 2, does not compile"
printf '\n#error a student typo\n' >>"$repo/exercises/02_scaling_wall.cpp"
rc=0; course run 2 >"$work/out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "run 2 (does not compile) exited $rc: $(cat "$work/out")"
# The compiler's words are its own (GCC: "error: #error a student typo", Clang: "error: a
# student typo"): what counts is the file, the line, that it is an error, and its text.
grep -Eq '^exercises/02_scaling_wall.cpp:[0-9]+:([0-9]+:)? (fatal )?error: .*a student typo' "$work/out" ||
  fail "run 2 does not show the compiler's error: $(cat "$work/out")"
grep -q 'exercise 02: does not compile' "$work/out" || fail "run 2 does not say 'does not compile'"
[ ! -e "$build/tests/grade_exercise_02" ] || fail "the grader from before the error is still there"

step "run 3, failing"
put 03_gather.cpp failing
rc=0; course run 3 >"$work/out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "run 3 (failing) exited $rc: $(cat "$work/out")"
grep -q '^  exercise 03: failing' "$work/out" || fail "run 3 is not failing: $(cat "$work/out")"
grep -q '^  more help: \./coop hint 3 · the lesson: \./coop lesson 3$' "$work/out" ||
  fail "run 3 does not suggest the course's commands: $(cat "$work/out")"
grep -q '^Progress .* · [0-9] failing' "$work/out" || fail "the progress bar does not count the failing exercise"
git -C "$repo" checkout -q -- exercises/03_gather.cpp

# ---- the progress table ------------------------------------------------------------------------------
step "progress"
rc=0; course >"$work/out" 2>&1 || rc=$?
[ "$rc" -le 1 ] || fail "progress exited $rc: $(cat "$work/out")"
grep -q '^Exercises: [0-9] of 9 done' "$work/out" || fail "progress has no table: $(cat "$work/out")"
grep -Eq '^  01 coroutines +done +([0-9]+)/\1' "$work/out" || fail "progress: 01 is not done"
grep -Eq '^  02 scaling_wall +does not compile' "$work/out" || fail "progress: 02 does not say it does not compile"
grep -q '^Does not compile: exercises/02_scaling_wall.cpp' "$work/out" || fail "progress does not name what does not compile"
grep -Eq "^  09 [a-z_]+ +not started" "$work/out" || fail "progress: 09 is not 'not started'"
grep -q '^Next: exercise .* — \./coop run [0-9] · the lesson: \./coop lesson [0-9]' "$work/out" ||
  fail "progress does not say what to type next"
grep -q '^Progress ' "$work/out" || fail "progress has no bar"
git -C "$repo" checkout -q -- exercises/02_scaling_wall.cpp

# ---- hints: one level more each time, remembered, shared with make hint ------------------------
step "hint"
says '^Exercise 03, part 1 .* hint 1 of 3' course hint 3 || fail "the first hint is not level 1"
says 'hint 2 of 3' course hint 3 || fail "the second hint is not level 2"
says '^Exercise 03, .*hint 3 of 3' course hint || fail "hint without N is not the last exercise's, level 3"
says 'hint 3 of 3' course hint 3 || fail "the hints go past level 3"
grep -q '^hint.03.1 3$' "$state/course.state" || fail "the hint level is not remembered in course.state"
says '(ask again for more: \./coop hint 4)' course hint 4 || fail "hint does not say how to ask again"
# make hint runs coop_grade this way: the same file, the same levels.
says 'hint 2 of 3' "$build/tests/coop_grade" hint "$build/tests" "$state" 4 || fail "make hint does not go on from ./coop hint"
says 'hint 3 of 3' course hint 4 || fail "./coop hint does not go on from make hint"
course hint 5 --all >"$work/out"
[ "$(grep -c '^part [0-9] · ' "$work/out")" -ge 2 ] && grep -q '^  3\. ' "$work/out" || fail "hint --all does not give every hint"
! grep -q '^hint.05' "$state/course.state" || fail "hint --all changed the levels"

# ---- watch: a save grades the exercise of the file saved -------------------------------------
step "watch (a file saved by rename, as editors do)"
"$course_bin" watch 3 --once >"$work/watch.out" 2>&1 </dev/null &
pids+=($!)
wait_for "$work/watch.out" '^Watching exercises/' 60
grep -q '^  exercise 03: ' "$work/watch.out" || fail "watch did not grade exercise 03 first"
solve 01_coroutines.cpp .01.swp                                             # an editor's file: ignored
mv "$repo/exercises/.01.swp" "$repo/exercises/01_coroutines.cpp"            # the save
rc=0; ended "${pids[-1]}" 60 || rc=$?
[ "$rc" = 0 ] || fail "watch --once exited $rc: $(cat "$work/watch.out")"
sed -n '/^──── exercises\/01_coroutines.cpp saved/,$p' "$work/watch.out" >"$work/out"
grep -q '^  exercise 01: done' "$work/out" || fail "watch did not grade exercise 01 after its save: $(cat "$work/watch.out")"
grep -q '^Progress ' "$work/out" || fail "watch shows no progress bar after a save"
grep -q '^last 1$' "$state/course.state" || fail "watch did not remember the exercise saved"

step "watch (a file written in place), stopped by Ctrl-C"
"$course_bin" watch 3 >"$work/watch.out" 2>&1 </dev/null &
pids+=($!)
wait_for "$work/watch.out" '^Watching exercises/' 60
put 01_coroutines.cpp failing
wait_for "$work/watch.out" '^──── exercises/01_coroutines.cpp saved' 30
for _ in $(seq 600); do [ "$(grep -c '^Watching exercises/' "$work/watch.out")" = 2 ] && break; sleep 0.1; done
grep -q '^  exercise 01: ' "$work/watch.out" || fail "watch did not grade exercise 01 after its save: $(cat "$work/watch.out")"
kill -INT "${pids[-1]}"
rc=0; ended "${pids[-1]}" 30 || rc=$?
[ "$rc" = 0 ] || fail "watch stopped by SIGINT exited $rc"
[ "$(tail -n 1 "$work/watch.out")" = "Stopped watching." ] || fail "watch does not say it stopped: $(tail -n 3 "$work/watch.out")"
solve 01_coroutines.cpp

step "watch --manual"
printf '\n' | course watch 1 --manual --once >"$work/out" || fail "watch --manual --once failed"
[ "$(grep -c '^  exercise 01: done' "$work/out")" = 2 ] || fail "watch --manual did not grade again on Enter"
grep -q '^Enter: grade exercise 01 again' "$work/out" || fail "watch --manual does not say to press Enter"
printf '3\nq\n' | course watch 1 --manual >"$work/out" || fail "watch --manual (3, q) failed"
grep -q '^  exercise 03: ' "$work/out" && [ "$(tail -n 1 "$work/out")" = "Stopped watching." ] ||
  fail "watch --manual did not grade exercise 03 then stop: $(cat "$work/out")"

step "watch --poll (where there is no inotify: the directory's times and sizes)"
"$course_bin" watch 3 --poll --once >"$work/watch.out" 2>&1 </dev/null &
pids+=($!)
wait_for "$work/watch.out" '^Watching exercises/' 60
put 01_coroutines.cpp failing                                               # written in place
rc=0; ended "${pids[-1]}" 60 || rc=$?
[ "$rc" = 0 ] || fail "watch --poll --once exited $rc: $(cat "$work/watch.out")"
sed -n '/^──── exercises\/01_coroutines.cpp saved/,$p' "$work/watch.out" >"$work/out"
grep -q '^  exercise 01: failing' "$work/out" || fail "watch --poll did not grade exercise 01 after its save: $(cat "$work/watch.out")"
solve 01_coroutines.cpp

# ---- grading exactly what was saved: content, not timestamps -----------------------------------
# A `slow` stand-in takes 2 s to "compile" after reading the file, and says when it has begun.
# The second save lands while the first is compiled: the grader then written is newer than
# the second save, so a build keyed on timestamps would call it up to date.
step "a save during the build is graded, not the text the build started from"
put 04_create_task.cpp done slow
course run 4 >"$work/out" 2>&1 &
pids+=($!)
for _ in $(seq 300); do [ -e "$build/tests/grade_exercise_04.compiling" ] && break; sleep 0.1; done
[ -e "$build/tests/grade_exercise_04.compiling" ] || fail "the slow stand-in compile of exercise 04 never began"
put 04_create_task.cpp failing                                              # the second save
rc=0; ended "${pids[-1]}" 60 || rc=$?
[ "$rc" = 1 ] && grep -q '^  exercise 04: failing' "$work/out" ||
  fail "run 4 graded the first save (done), not the second (failing): exit $rc: $(cat "$work/out")"
rc=0; course run 4 >"$work/out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q '^  exercise 04: failing' "$work/out" || fail "run 4, again, is not failing: $(cat "$work/out")"

step "a grader the course command did not build from these files is not run"
# In its place, a grader that passes every part (as one built from other code would), newer
# than the files: the build tool calls it up to date.
printf '#!/bin/sh\nFAKE_LIST="%s" exec "%s" done 04 create_task "" "$@"\n' "$repo/course/exercises.list" \
  "$src/course/test/fake_build/fake_grader.sh" >"$build/tests/grade_exercise_04"
rc=0; course run 4 >"$work/out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q '^  exercise 04: failing' "$work/out" ||
  fail "run 4 ran a grader it did not build (done), not one of the file saved (failing): $(cat "$work/out")"

step "make test's build: a save during it is built again, and a grader it did not make is not kept"
# make test and make grade build everything through `course build`, then coop_grade runs the
# graders without building: the grader left must be of the file as saved.
put 06_async_with.cpp done slow
course build --quiet >"$work/out" 2>&1 &
pids+=($!)
for _ in $(seq 300); do [ -e "$build/tests/grade_exercise_06.compiling" ] && break; sleep 0.1; done
[ -e "$build/tests/grade_exercise_06.compiling" ] || fail "the slow stand-in compile of exercise 06 never began"
put 06_async_with.cpp failing                                               # the second save
ended "${pids[-1]}" 60 || true
grep -q " failing 06 " "$build/tests/grade_exercise_06" ||
  fail "after make test's build, exercise 06's grader is of the first save, not the second: $(cat "$work/out")"
# A grader put there by something else, newer than the files (a build tool calls it up to
# date): built again from the files.
printf '#!/bin/sh\nFAKE_LIST="%s" exec "%s" done 06 async_with "" "$@"\n' "$repo/course/exercises.list" \
  "$src/course/test/fake_build/fake_grader.sh" >"$build/tests/grade_exercise_06"
course build --quiet >"$work/out" 2>&1 || true
grep -q " failing 06 " "$build/tests/grade_exercise_06" ||
  fail "make test's build kept a grader it did not make (done), not one of the file saved (failing): $(cat "$work/out")"
# An exercise that no longer compiles: its old grader goes, and the verdict says so.
echo '#error the student broke it' >>"$repo/exercises/06_async_with.cpp"
rc=0; course build --quiet >"$work/out" 2>&1 || rc=$?
[ "$rc" = 1 ] && [ ! -e "$build/tests/grade_exercise_06" ] ||
  fail "make test's build kept the old grader of an exercise that does not compile (exit $rc): $(cat "$work/out")"
grep -q 'does not compile' "$state/06.report" ||
  fail "make test's build stored no 'does not compile' verdict for exercise 06"
put 06_async_with.cpp stub

# ---- what run says besides the checks ------------------------------------------------------------
step "the compiler's warnings about the student's file; the others as last graded"
put 05_cancellation.cpp done warning
course run 5 >"$work/out" 2>&1 || fail "run 5 (done, with a warning) failed: $(cat "$work/out")"
grep -q "^exercises/05_cancellation.cpp:3:5: warning: ignoring returned value of type 'coop::Task<void>'" "$work/out" ||
  fail "run 5 does not show the compiler's warning about the student's file: $(cat "$work/out")"
grep -q 'forgotten co_await' "$work/out" || fail "run 5 does not say what the nodiscard Task warning means"
course run 5 >"$work/out" 2>&1 || fail "run 5 again failed"
grep -q "warning: ignoring returned value" "$work/out" || fail "run 5 forgot the warning when nothing was rebuilt"
grep -q '^Progress .*(exercise 05 graded now, the others as last graded' "$work/out" ||
  fail "run 5's progress bar does not say the other exercises are as last graded: $(grep '^Progress' "$work/out")"
put 05_cancellation.cpp done
course run 5 >"$work/out" 2>&1 || fail "run 5 (no warning) failed"
! grep -q "warning:" "$work/out" || fail "run 5 still shows a warning the code no longer has"

# ---- lesson: the flags are the lesson's ----------------------------------------------------------
step "lesson"
course lesson 1 --list >"$work/out" || fail "lesson 1 --list failed"
grep -q '^Lesson 01 · ' "$work/out" && grep -q '^  1\. ' "$work/out" || fail "lesson 1 --list does not list the steps"
says '^Lesson 01 · ' course lesson 1 -- --list || fail "lesson 1 -- --list failed"
rc=0; course lesson 1 --frobnicate >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "lesson 1 --frobnicate: the lesson's bad flag should exit 2, exited $rc"

# ---- reset: from git, after asking -------------------------------------------------------------------
step "reset"
stub03=$(git -C "$repo" show HEAD:exercises/03_gather.cpp)
echo "// my work" >>"$repo/exercises/03_gather.cpp"
rc=0; echo n | course reset 3 >"$work/out" || rc=$?
[ "$rc" = 1 ] && grep -q '^// my work$' "$repo/exercises/03_gather.cpp" || fail "reset went ahead after 'n'"
echo y | course reset 3 >"$work/out" || fail "reset after 'y' failed: $(cat "$work/out")"
[ "$(cat "$repo/exercises/03_gather.cpp")" = "$stub03" ] || fail "reset did not restore the stubs"
grep -q '^// my work$' "$state/reset/03_gather.cpp" || fail "reset did not keep the student's version"
echo "// more work" >>"$repo/exercises/03_gather.cpp"
course reset 3 --yes </dev/null >/dev/null || fail "reset --yes failed"
[ "$(cat "$repo/exercises/03_gather.cpp")" = "$stub03" ] || fail "reset --yes did not restore the stubs"
says 'nothing to reset' course reset 3 --yes || fail "reset of an untouched exercise should say so"
mkdir -p "$work/nogit" && cp -r "$repo/exercises" "$work/nogit/"
[ ! -d "$repo/course" ] || cp -r "$repo/course" "$work/nogit/"
one_line 1 env COOP_ROOT="$work/nogit" "$course_bin" reset 3 --yes
grep -q 'not a git checkout' "$work/err" || fail "reset outside git does not say so: $(cat "$work/err")"
one_line 1 env PATH=/nonexistent "$course_bin" reset 3 --yes

# ---- solution: only once done --------------------------------------------------------------------
step "solution"
one_line 1 course solution 3
if [ -z "$solutions" ]; then
  echo "   (no solutions/ here, as in a student release: the steps that show them are skipped)"
  one_line 1 course solution 3 --force
else
course solution 3 --force --stacked >"$work/out" || fail "solution --force failed"
grep -q '^── yours: exercises/03_gather.cpp' "$work/out" && grep -q '^── the reference: solutions/03_gather.cpp' "$work/out" ||
  fail "solution --force --stacked does not show both files"
course solution 1 --width 200 >"$work/out" || fail "solution 1 (done) was refused"
[[ "$(head -n 1 "$work/out")" =~ ^"yours: exercises/01_coroutines.cpp "+"│ the reference: solutions/01_coroutines.cpp"$ ]] ||
  fail "solution --width 200 is not side by side: $(head -n 2 "$work/out")"
python3 - "$work/out" <<'EOF' || fail "solution --width 200 has lines wider than 200 columns"
import sys
sys.exit(max(len(line.rstrip("\n")) for line in open(sys.argv[1], encoding="utf-8")) > 200)
EOF
fi

# ---- finding the build from the binary's place; the launcher ------------------------------------
step "the build found from the binary; ./coop"
says '^part 1 · ' env -u COOP_BUILD "$build/course/course" hint 3 --all || fail "course did not find its build from its own place"
env -u COOP_BUILD -u COOP_ROOT "$build/course/course" hint 3 --all >/dev/null 2>"$work/err" && fail "no exercises/ should be an error"
grep -q "cannot find the course's exercises/" "$work/err" || fail "no exercises/: $(cat "$work/err")"
says '^Lesson 01 · ' env -u COOP_LAUNCHER "$src/coop" lesson 1 --list || fail "./coop lesson 1 --list failed"
says '^coop: there is no exercise 12' env -u COOP_LAUNCHER "$src/coop" run 12 || fail "./coop does not call itself coop"

# ---- nothing was written into exercises/ -------------------------------------------------------
step "state only in the build directory"
[ "$(cd "$repo" && find exercises | sort)" = "$files_before" ] || fail "files appeared in exercises/"
[ -f "$state/course.state" ] || fail "no course.state in the build directory"

echo "course_test: every subcommand did what it says"
