#!/bin/sh
# The grader of an exercise that fails, for course_test.sh (compile.cmake puts it in place
# for an exercise with the line `// course_test: failing`): it prints and reports as
# tests/grading/grader.cpp does, whatever the exercise, as exercise 03.
report=""
while [ $# -gt 0 ]; do
  case $1 in --report) report=$2; shift ;; esac
  shift
done
echo "Exercise 03 · gather — fetch everything at once"
echo "  ✗ part 1 · fetch_both: both at once — FAILED"
echo "      took 400 ms, expected 300 ms: the longest, not the sum"
echo "      hint: The time should be the longer of the two latencies, not their sum."
echo "  exercise 03: failing (0 of 1 parts pass)"
echo "  more help: make hint N=3 · the lesson: make lesson N=3"
if [ -n "$report" ]; then
  printf 'exercise\t3\tgather\tfetch everything at once\tfailing\n' >"$report"
  printf 'part\t1\tfailed\t0.010\tfetch_both: both at once\tboth at once\ttook 400 ms\t\n' >>"$report"
fi
exit 1
