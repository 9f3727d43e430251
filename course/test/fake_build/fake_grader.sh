#!/bin/sh
# A stand-in grader for course_test.sh: compile.cmake puts a two-line script in place of
# grade_exercise_NN that runs this with what the stand-in exercise file asked for. It prints
# and reports (course/report.hpp says the format) as tests/grading/part_runner.cpp does, without running any exercise code.
#
#   fake_grader.sh STATE NN TOPIC SOLUTION_GRADER [--report FILE] [--quiet] [--hints] [--expect E]
#                  [--timeout S]
#
# STATE: stub (every part not started), failing (part 1 fails, the rest not started) or done.
# The parts' names and hints come from SOLUTION_GRADER --hints (the real solution's grader,
# trusted course code), else from the course's list (FAKE_LIST), else two parts of its own.
state=$1 nn=$2 topic=$3 solution=$4
shift 4
n=$(expr "$nn" + 0)
report="" quiet="" hints="" expect=graded
while [ $# -gt 0 ]; do
  case $1 in
    --report) report=$2; shift ;;
    --quiet) quiet=1 ;;
    --hints) hints=1 ;;
    --expect) expect=$2; shift ;;
    --timeout|--part) shift ;;
  esac
  shift
done
tab=$(printf '\t')
parts=$(mktemp)
trap 'rm -f "$parts"' EXIT
list=${FAKE_LIST:-}
if [ -n "$solution" ] && [ -x "$solution" ] && "$solution" --hints >"$parts" 2>/dev/null && [ -s "$parts" ]; then :
elif [ -f "$list" ] && grep -q "^part $nn\." "$list"; then
  sed -n "s/^part $nn\.\([0-9]*\) [^ ]* [^ ]* \(.*\)/\1\t\2\ta nudge\ta stronger nudge\tthe approach/p" "$list" >"$parts"
else
  printf '1\tfirst part\ta nudge\ta stronger nudge\tthe approach\n2\tsecond part\ta nudge\ta stronger nudge\tthe approach\n' >"$parts"
fi
if [ -n "$hints" ]; then cat "$parts"; exit 0; fi

total=$(wc -l <"$parts")
case $state in
  done) passed=$total; summary=done ;;
  failing) passed=0; summary=failing ;;
  *) passed=0; summary="not started" ;;
esac
title="a stand-in"
[ -f "$list" ] && title=$(sed -n "s/^exercise $nn [^ ]* \(.*\)/\1/p" "$list")
[ -n "$quiet" ] || echo "Exercise $nn · $topic — $title"
[ -z "$report" ] || printf 'exercise\t%s\t%s\t%s\n' "$n" "$topic" "$title" >"$report"
while IFS="$tab" read -r k name hint1 rest; do
  if [ "$state" = done ]; then status=passed message=""
  elif [ "$state" = failing ] && [ "$k" = 1 ]; then status=failed message="took 400 ms, expected 300 ms: a stand-in failure"
  else status="not started" message="not started: the stub is still there"
  fi
  if [ -z "$quiet" ]; then
    case $status in
      passed) echo "  ✓ part $k · $name" ;;
      failed) echo "  ✗ part $k · $name — FAILED"; echo "      what part $k checks"; echo "      $message"; echo "      hint: $hint1" ;;
      *) echo "  ○ part $k · $name — not started"; echo "      what part $k checks"; echo "      $message" ;;
    esac
  fi
  shown=""  # the hint shown with a part that did not pass (here the part's first)
  [ "$status" != failed ] || shown=$hint1
  [ -z "$report" ] || printf 'part\t%s\t%s\t0.010\t%s\twhat part %s checks\t%s\t\t%s\n' "$k" "$status" "$name" "$k" "$message" "$shown" >>"$report"
done <"$parts"
[ -z "$report" ] || printf 'end\t%s\n' "$summary" >>"$report"
echo "  exercise $nn: $summary ($passed of $total parts pass)"
[ "$summary" != failing ] || [ -n "$quiet" ] || echo "  more help: make hint N=$n · the lesson: make lesson N=$n"
case $expect in
  done) [ "$summary" = done ] ;;
  *) [ "$summary" != failing ] ;;
esac
