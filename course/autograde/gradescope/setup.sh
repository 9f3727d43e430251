#!/usr/bin/env bash
# setup.sh — Gradescope runs this once, as root, when it builds the autograder's image (the
# zip is unpacked in /autograder/source). It installs what the course needs from Debian's or
# Ubuntu's archive, unpacks the course, and builds the sealed tree, so that grading a
# submission compiles only the submitted files. For trying it out on a machine of one's own:
# AUTOGRADER_ROOT (default /autograder) moves it elsewhere, AUTOGRADER_SKIP_PACKAGES=1 leaves
# the packages alone.
set -euo pipefail
root=${AUTOGRADER_ROOT:-/autograder}
source=$root/source

if [ "${AUTOGRADER_SKIP_PACKAGES:-0}" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The build (CMake, Ninja, a C++20 compiler, fmt, doctest, CLI11), the scripts (Python 3,
  # make), and the sealed mode's tools (setpriv in util-linux, pkill in procps, useradd in
  # passwd). g++-12 is the oldest GCC the course supports; install-deps.sh picks it.
  apt-get install -y -qq --no-install-recommends ca-certificates make cmake ninja-build g++ g++-12 \
    libfmt-dev doctest-dev libcli11-dev python3 util-linux procps passwd tar >/dev/null
fi

rm -rf "$source/course"
mkdir -p "$source/course"
tar -C "$source/course" -xf "$source/course.tar"
cd "$source/course"
sh .ci/install-deps.sh   # says what is still missing, if anything is
make --no-print-directory autograde-setup AUTOGRADE_SOURCE="$source/course.tar"
