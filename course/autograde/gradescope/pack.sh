#!/usr/bin/env bash
# pack.sh — make gradescope: Gradescope's autograder.zip, which grades exactly as
# `make autograde` does.
#
#   bash course/autograde/gradescope/pack.sh ZIP
#
# The zip holds, at its root (Gradescope unpacks it into /autograder/source/):
#   setup.sh        run once when Gradescope builds the autograder's image: installs the Debian
#                   packages the course needs, unpacks the course, builds the sealed tree
#   run_autograder  run for each submission: make autograde SUBMISSION=/autograder/submission,
#                   then results.json into /autograder/results/
#   course.tar      the course's files as make autograde uses them: its commit (HEAD, or
#                   AUTOGRADE_SOURCE=worktree), without solutions/
set -euo pipefail
zip=${1:?usage: pack.sh ZIP}
case $zip in /*) ;; *) zip=$(pwd)/$zip ;; esac
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
command -v zip >/dev/null || { echo "make gradescope: zip is not installed (apt-get install zip)" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
bash "$here/../autograde.sh" tar "$stage/course.tar"
if tar -tf "$stage/course.tar" | grep -q '^\./solutions/'; then
  echo "make gradescope: the course tar holds solutions/; refusing to pack it" >&2; exit 1
fi
install -m 755 "$here/setup.sh" "$here/run_autograder" "$stage/"
mkdir -p "$(dirname "$zip")"
rm -f "$zip"
(cd "$stage" && zip -q -X "$zip" setup.sh run_autograder course.tar)
echo "make gradescope: wrote $zip ($(du -k "$zip" | cut -f1) KiB): upload it as the assignment's autograder (Ubuntu 22.04 or 24.04 base image)"
