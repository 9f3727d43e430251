#!/usr/bin/env bash
# student_release.sh — make student-release DIR=PATH: the students' repository.
#
# The course's commit (HEAD: what was committed is what ships), without what students must
# not have: the reference solutions (solutions/), the hidden parts' graders
# (tests/grading/hidden/, see below), the hidden parts' lines in course/exercises.list, and
# the instructors' attack tests. Written into PATH (new, or empty) as a fresh git repository
# with one commit, so the students' history starts clean and holds no solution.
#
# Hidden parts: a part marked `hidden` in course/exercises.list is graded (Gradescope shows it
# to no student) but its check must not ship. Its code lives in tests/grading/hidden/NN_topic.cpp,
# which the instructor's tree builds into grader NN and the release drops; with its lines gone
# from the list too, the students' graders and their list agree.
set -euo pipefail
dir=${1:?usage: student_release.sh DIR}
root=$(pwd)
git -C "$root" rev-parse --verify -q HEAD >/dev/null || { echo "make student-release: not a git checkout" >&2; exit 2; }
if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
  echo "make student-release: $dir exists and is not empty; give a new directory" >&2; exit 2
fi
mkdir -p "$dir"
git -C "$root" archive --format=tar HEAD | tar -C "$dir" -xf -
rm -rf "$dir/solutions" "$dir/tests/grading/hidden" "$dir/tests/grading/attacks"
list=$dir/course/exercises.list
if [ -f "$list" ]; then
  # `part NN.K POINTS VISIBILITY NAME`: drop the hidden ones.
  awk '!($1 == "part" && $4 == "hidden")' "$list" >"$list.tmp" && mv "$list.tmp" "$list"
fi
# Nothing that names a solution file may be left (a check, not a filter: fix the source).
if grep -rIl --exclude-dir=.git 'solutions/[0-9][0-9]_' "$dir" >/dev/null 2>&1; then
  echo "make student-release: note: these files still name solutions/ files (fine if they only mention them):" >&2
  grep -rIl --exclude-dir=.git 'solutions/[0-9][0-9]_' "$dir" | sed "s#^$dir/#  #" >&2
fi
commit=$(git -C "$root" rev-parse --short HEAD)
name=$(git -C "$root" config user.name || echo "coop course")
email=$(git -C "$root" config user.email || echo "course@localhost")
(
  cd "$dir"
  git init -q -b main
  git add -A
  git -c user.name="$name" -c user.email="$email" commit -q -m "coop: the course (from $commit)"
)
echo "make student-release: wrote $dir ($(git -C "$dir" ls-files | wc -l) files, one commit; from $commit)"
