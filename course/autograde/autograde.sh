#!/usr/bin/env bash
# autograde.sh — sealed autograding: grades one student's submission in a tree of the course's
# own files, as an unprivileged user, and writes grade/results.json and grade/junit.xml.
#
#   autograde.sh setup              prepare the sealed tree and build it once (Gradescope's
#                                   setup.sh runs this; grading runs it when it is missing)
#   autograde.sh grade DIR          grade the submission in DIR
#   autograde.sh tar FILE           the sealed tree's files, as a tar (make gradescope)
#
# Run from the course's root (make autograde does). Settings, from the environment:
#   AUTOGRADE_DIR     where the prepared tree lives           (build-autograde)
#   AUTOGRADE_OUT     where results.json and junit.xml go     (grade)
#   AUTOGRADE_SOURCE  a tar of the course to grade with; unset: `git archive HEAD`, the
#                     course's own commit (never the working tree: what was committed is
#                     what grades); `worktree`: the working tree's files (for developing
#                     the graders; the attack tests use it)
#   AUTOGRADE_USER    the unprivileged user graders run as, when we are root (coop-grader,
#                     created when missing; grading stops if it cannot be)
#   AUTOGRADE_RUN_AS  1: coop_grade stays root and runs each grader as that user (--run-as);
#                     0: coop_grade runs as that user as a whole (what is done anyway when
#                     coop_grade has no --run-as); its reports are checked here either way
#
# Why each step is here:
#   - The tree is made from the course's files, never the student's: the student's repository
#     may carry edited headers, graders or runtime, or the solutions. Only the exercise files
#     named in the course's list are taken from the submission.
#   - It is built once (setup) and kept as a pristine copy; each submission starts from a copy
#     of it made with `cp -a` (times kept), so ninja rebuilds only the submitted files and
#     links their graders: seconds, not the minutes of a full build.
#   - The student's code is compiled and run as an unprivileged user that owns nothing the
#     result depends on: the tree, the state and grade/ belong to root and are not writable
#     by it, and every process it has left is killed when grading ends.
#   - The reports are checked (JSON, well-formed XML, UTF-8, bounded) before they replace
#     grade/'s, all or nothing; when grading itself fails, grade/ says so, with score 0.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(pwd)
ag=${AUTOGRADE_DIR:-build-autograde}
case $ag in /*) ;; *) ag=$root/$ag ;; esac
out=${AUTOGRADE_OUT:-grade}
case $out in /*) ;; *) out=$root/$out ;; esac
source_kind=${AUTOGRADE_SOURCE:-}
grader_user=${AUTOGRADE_USER:-coop-grader}
# Compiling and linking the submitted files: about a minute on 2 idle cores; the limit is
# for a submission that makes the compiler work forever, so it leaves room for a busy machine.
build_seconds=${AUTOGRADE_BUILD_SECONDS:-300}
grade_seconds=${AUTOGRADE_GRADE_SECONDS:-900}   # a backstop: coop_grade bounds each grader itself
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

say() { printf 'make autograde: %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

# ---- the course's own files -----------------------------------------------------------------

# What is left out of the sealed tree: the solutions, and what is of no use to grading.
excluded=(solutions .github tests/grading/attacks)

# Writes the course's files as a tar on stdout.
course_tar() {
  case $source_kind in
    "")
      git -C "$root" rev-parse --verify -q HEAD >/dev/null ||
        die "not a git checkout: set AUTOGRADE_SOURCE to a tar of the course (make gradescope packs one)"
      git -C "$root" archive --format=tar HEAD ;;
    worktree)
      git -C "$root" ls-files -z --cached --others --exclude-standard |
        (cd "$root" && xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\0" "$f"; done' sh) |
        tar -C "$root" --null -T - -cf - ;;
    *)
      [ -f "$source_kind" ] || die "AUTOGRADE_SOURCE=$source_kind is not a file"
      cat "$source_kind" ;;
  esac
}

# The sealed tree's files as a tar in FILE: the course without what is excluded (make gradescope
# packs this, so Gradescope grades with exactly what make autograde would).
sealed_tar() {
  local tmp
  tmp=$(mktemp -d)
  chmod 755 "$tmp"  # the tar's top directory: mktemp's 0700 would lock the graders' user out
  course_tar | tar -C "$tmp" -xf -
  for path in "${excluded[@]}"; do rm -rf "${tmp:?}/$path"; done
  tar -C "$tmp" --sort=name --owner=0 --group=0 --numeric-owner -cf "$1" .
  rm -rf "$tmp"
}

# An identity for the course's files: rebuilt when it changes.
course_id() {
  case $source_kind in
    "") git -C "$root" rev-parse HEAD ;;
    *) course_tar | sha256sum | cut -d' ' -f1 ;;
  esac
}

# The graders' targets, from the exercise files the course accepts.
grader_targets() {
  python3 "$here/submission.py" names "$1" | sed -n 's/^\([0-9][0-9]\)_.*/grade_exercise_\1/p'
}

setup() {
  local id
  id=$(course_id)
  if [ -f "$ag/pristine.id" ] && [ "$(cat "$ag/pristine.id")" = "$id" ] && [ -d "$ag/pristine" ]; then
    return 0
  fi
  local fresh=$ag/fresh
  rm -rf "$ag/tree" "$fresh"
  mkdir -p "$fresh"
  sealed_tar "$ag/course.tar"
  tar -C "$fresh" -xf "$ag/course.tar"
  if [ -d "$ag/pristine" ]; then
    # A new version of the course: only the files that changed are replaced (the others keep
    # their times), so ninja rebuilds only what depends on them.
    say "updating the sealed tree in $ag to the course's new version"
    cp -a "$ag/pristine" "$ag/tree"
    python3 "$here/submission.py" sync "$fresh" "$ag/tree/src"
    rm -rf "$fresh"
  else
    say "preparing the sealed tree in $ag (once; a few minutes)"
    mkdir -p "$ag/tree"
    mv "$fresh" "$ag/tree/src"
  fi
  rm -f "$ag/pristine.id"
  local cxx
  cxx=$(cd "$ag/tree/src" && sh .ci/install-deps.sh --compiler)
  if [ ! -f "$ag/tree/build/CMakeCache.txt" ]; then
    cmake -S "$ag/tree/src" -B "$ag/tree/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_COMPILER="$cxx" >"$ag/setup.log" 2>&1 ||
      { tail -n 30 "$ag/setup.log" >&2; die "configuring the sealed tree failed (log: $ag/setup.log)"; }
  fi
  # The stubs are built too: the runtime, the graders' objects and the exercises' headers are
  # then compiled, and a submission recompiles only its own files.
  # shellcheck disable=SC2046
  cmake --build "$ag/tree/build" -j "$jobs" --target coop_grade $(grader_targets "$ag/tree/src") \
    >>"$ag/setup.log" 2>&1 || { tail -n 30 "$ag/setup.log" >&2; die "building the sealed tree failed (log: $ag/setup.log)"; }
  rm -rf "$ag/pristine"
  cp -a "$ag/tree" "$ag/pristine"
  echo "$id" >"$ag/pristine.id"
  say "sealed tree ready"
}

# ---- the unprivileged user ------------------------------------------------------------------

as_root=0
[ "$(id -u)" = 0 ] && as_root=1

ensure_user() {
  [ $as_root = 1 ] || return 0
  if ! id -u "$grader_user" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --user-group \
      "$grader_user" >/dev/null 2>&1 ||
      die "could not create the graders' user $grader_user (useradd); grading needs a user of its own, whose every process and file can be removed afterwards"
  fi
  grader_uid=$(id -u "$grader_user")
  grader_gid=$(id -g "$grader_user")
  [ "$grader_uid" != 0 ] || die "AUTOGRADE_USER=$grader_user is root"
}

# Runs a command as the unprivileged user (or as we are, when we are not root), with an
# environment of our choosing: nothing of ours leaks into it.
as_grader() {
  local env=(env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$ag/home" TMPDIR="$ag/home" LANG=C.UTF-8
             CCACHE_DISABLE=1)
  if [ $as_root = 1 ]; then
    setpriv --reuid="$grader_uid" --regid="$grader_gid" --clear-groups --no-new-privs "${env[@]}" "$@"
  else
    "${env[@]}" "$@"
  fi
}

# Ends everything the student's code left behind: every process of the graders' user, its
# files in the shared temporary directories, and its System V IPC objects. Only when it is a user of its own.
sweep() {
  [ $as_root = 1 ] || return 0
  local tries
  for tries in 1 2 3 4 5 6 7 8 9 10; do
    pkill -KILL -u "$grader_uid" 2>/dev/null || true
    pgrep -u "$grader_uid" >/dev/null 2>&1 || break
    sleep 0.2
  done
  # Not the sealed tree itself, which may lie under /tmp too (a clone there): its build
  # directory belongs to the graders' user while the student's files compile.
  local keep
  keep=$(cd "$ag" && pwd -P)
  find /tmp /var/tmp /dev/shm /dev/mqueue -xdev -user "$grader_uid" -print0 2>/dev/null |
    grep -zvF "$keep/" | xargs -0r rm -rf 2>/dev/null || true
  # System V shared memory, semaphores and message queues outlive their processes.
  local kind id
  for kind in m s q; do
    # (-c: creator and owner in full; the default listing cuts names to 10 characters)
    for id in $(ipcs -"$kind" -c 2>/dev/null | awk -v u="$grader_user" '$3 == u || $5 == u { print $1 }'); do
      ipcrm -"$kind" "$id" 2>/dev/null || true
    done
  done
  rm -rf "$ag/home"
}

# ---- grading one submission -----------------------------------------------------------------

grade() {
  local started=$SECONDS submission=${1:-}
  [ -n "$submission" ] || die "say which submission: make autograde SUBMISSION=DIR"
  [ -e "$submission" ] || die "there is no submission directory $submission"
  [ -d "$submission" ] || die "$submission is not a directory"
  mkdir -p "$ag"
  exec 9>"$ag/.lock"
  flock -w 600 9 || die "another make autograde is using $ag"
  # The submitted files, checked before anything else is done (bad input is one line, at
  # once), by the names in this checkout's list; then kept only if the sealed tree has them.
  python3 "$here/submission.py" collect "$submission" "$ag/incoming" "$root" || exit 2
  setup
  ensure_user
  local tree=$ag/tree src=$ag/tree/src
  local sealed_names
  sealed_names=$(python3 "$here/submission.py" names "$ag/pristine/src")
  for file in "$ag/incoming"/*.cpp; do
    [ -e "$file" ] || continue
    grep -qxF "$(basename "$file")" <<<"$sealed_names" || rm -f "$file"
  done
  sweep
  rm -rf "$tree" "$ag/state" "$ag/out"
  cp -a "$ag/pristine" "$tree"
  # Every grader binary goes: one that exists after the build was made by it, from this
  # submission. An exercise not submitted has none, so it "does not compile".
  local targets=() name nn
  rm -f "$tree"/build/tests/grade_exercise_[0-9][0-9]
  for file in "$ag/incoming"/*.cpp; do
    [ -e "$file" ] || continue
    name=$(basename "$file")
    nn=${name:0:2}
    # A new time makes ninja recompile it; a file as the course ships it (a stub left alone)
    # keeps the prepared object, and its grader is only linked again.
    cmp -s "$file" "$src/exercises/$name" || cp "$file" "$src/exercises/$name"
    targets+=("grade_exercise_$nn")
  done
  # The integrity scan, on the files as submitted.
  : >"$ag/integrity.txt"
  for file in "$ag/incoming"/*.cpp; do
    [ -e "$file" ] || continue
    python3 "$here/integrity.py" --name "exercises/$(basename "$file")" "$file" >>"$ag/integrity.txt"
  done
  # Compile and link as the unprivileged user: the student's code reaches the compiler too
  # (an #include can read any file the compiler can). The build directory is its, for now.
  mkdir -p "$ag/home"
  : >"$ag/build.log"
  if [ ${#targets[@]} -gt 0 ]; then
    if [ $as_root = 1 ]; then chown -R "$grader_uid:$grader_gid" "$tree/build" "$ag/home"; fi
    local brc=0
    as_grader timeout -k 5 "$build_seconds" ninja -C "$tree/build" -j "$jobs" -k 0 "${targets[@]}" \
      >"$ag/build.raw" 2>&1 || brc=$?
    if [ $brc = 124 ] || [ $brc = 137 ]; then
      echo "the build was stopped after ${build_seconds} s: what had not compiled by then does not count" >>"$ag/build.raw"
      say "the build was stopped after ${build_seconds} s"
    fi
    sweep
    # What did not compile, with the tree's paths shortened to the student's.
    grep -v '^ninja: \|^\[[0-9]*/[0-9]*\] ' "$ag/build.raw" | sed "s#$src/##g; s#$tree/build/##g" |
      head -c 200000 >"$ag/build.log" || true
  fi
  # The integrity check of what was compiled: the symbols each submitted file's object
  # defines (a disguise in the text does not survive the compiler).
  for file in "$ag/incoming"/*.cpp; do
    [ -e "$file" ] || continue
    name=$(basename "$file")
    local object
    object=$(find "$tree/build/tests/CMakeFiles/grade_exercise_${name:0:2}.dir" -name "$name.o" 2>/dev/null | head -n 1)
    [ -n "$object" ] || continue
    python3 "$here/integrity.py" --name "exercises/$name" --object "$object" >>"$ag/integrity.txt" ||
      echo "exercises/$name: its compiled object could not be checked" >>"$ag/integrity.txt"
  done
  [ -s "$ag/integrity.txt" ] && say "integrity: $(wc -l <"$ag/integrity.txt") construct(s) an exercise never needs (an instructor-only entry)"
  # From here the tree is root's and read-only to the graders' user: nothing it runs can
  # replace a grader, the list, the state or the reports.
  if [ $as_root = 1 ]; then
    chown -R 0:0 "$tree"
    chmod -R go-w "$tree"
  fi
  local built=0
  for t in "${targets[@]}"; do [ -x "$tree/build/tests/$t" ] && built=$((built + 1)); done
  say "built ${built} of ${#targets[@]} submitted exercises in $((SECONDS - started)) s; grading"
  mkdir -p "$ag/state" "$ag/out" "$ag/home"
  local grade_cmd=("$tree/build/tests/coop_grade" grade "$tree/build/tests" "$ag/state" "$ag/out")
  local help problem="" rc=0
  help=$("$tree/build/tests/coop_grade" grade --help 2>&1 || true)
  local integrity_arg=("--integrity" "$ag/integrity.txt")
  [[ $help == *--integrity* ]] || integrity_arg=()
  [[ $help == *--submitted* ]] && grade_cmd+=(--submitted "$ag/incoming")
  if [ $as_root = 1 ] && [[ $help == *--run-as* ]] && [ "${AUTOGRADE_RUN_AS:-1}" = 1 ]; then
    # coop_grade stays root, the trusted parent; each grader runs as the graders' user, who
    # cannot read the course's sources (the graders' hidden parts among them): it needs only
    # the built graders.
    chown "$grader_uid:$grader_gid" "$ag/home"
    chmod 700 "$src"
    (cd "$src" && timeout -k 5 "$grade_seconds" "${grade_cmd[@]}" --run-as "$grader_user" "${integrity_arg[@]}") \
      >"$ag/grade.log" 2>&1 || rc=$?
  elif [ $as_root = 1 ]; then
    # A coop_grade without --run-as (or AUTOGRADE_RUN_AS=0, should it fail): it runs as the
    # graders' user as a whole, writing into
    # directories of that user's, and its reports are checked here before they are used.
    chown "$grader_uid:$grader_gid" "$ag/state" "$ag/out" "$ag/home"
    (cd "$src" && as_grader timeout -k 5 "$grade_seconds" "${grade_cmd[@]}" "${integrity_arg[@]}") \
      >"$ag/grade.log" 2>&1 || rc=$?
  else
    say "not root: the graders run as $(id -un), unsealed (run as root to grade as $grader_user)"
    (cd "$src" && timeout -k 5 "$grade_seconds" "${grade_cmd[@]}" "${integrity_arg[@]}") >"$ag/grade.log" 2>&1 || rc=$?
  fi
  sweep
  [ $rc = 124 ] || [ $rc = 137 ] && problem="coop_grade did not finish within ${grade_seconds} s"
  sed -n '/^Score\|^Exercises/,$p' "$ag/grade.log" | head -n 40 >&2 || true
  # The integrity entry: coop_grade's own when it takes --integrity, else added here.
  local finish=(python3 "$here/submission.py" finish "$ag/out" "$out" --build-log "$ag/build.log"
                --seconds "$((SECONDS - started))")
  [ ${#integrity_arg[@]} -gt 0 ] || finish+=(--integrity "$ag/integrity.txt")
  [ -n "$problem" ] && finish+=(--problem "$problem")
  if "${finish[@]}"; then
    say "wrote $out/results.json and $out/junit.xml in $((SECONDS - started)) s"
  else
    say "wrote $out/results.json and $out/junit.xml saying so (log: $ag/grade.log)"
    exit 1
  fi
}

case ${1:-} in
  tar) [ -n "${2:-}" ] || die "usage: autograde.sh tar FILE"; sealed_tar "$2" ;;
  setup) mkdir -p "$ag"; exec 9>"$ag/.lock"; flock -w 600 9; setup ;;
  grade) grade "${2:-}" ;;
  *) echo "usage: autograde.sh setup | grade DIR | tar FILE" >&2; exit 2 ;;
esac
