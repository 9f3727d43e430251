#!/bin/bash
# compare_test.sh — bench/compare.py's behaviour when a peer is missing or broken, and on
# bad flags (issue 6): a missing peer is skipped with the line that installs it, a failing
# one is reported and makes the exit status 1, a bad flag is one line and exit 2. The
# measurements themselves are not checked here (CI runs `make bench ARGS=--quick`).
#
#   compare_test.sh SOURCE_DIR COOP_BENCH
set -u
src=$1
coop_bench=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0

fail() {
  echo "FAIL: $*"
  failed=1
}

# Runs compare.py with the given arguments; leaves the exit status in $rc and the output
# (stdout and stderr) in $out.
compare() {
  out=$(python3 "$src/bench/compare.py" --quick --only spawn "$@" 2>&1)
  rc=$?
}

expect() {  # expect WHAT TEXT: the output contains TEXT
  grep -qF -- "$2" <<<"$out" || fail "$1: the output lacks '$2'; it was:
$out"
}

# A bin directory with coop_bench only: Boost.Asio and threads are missing.
mkdir "$work/bin"
ln -s "$coop_bench" "$work/bin/coop_bench"
compare --systems coop,asio,threads --bin "$work/bin"
[ "$rc" = 0 ] || fail "missing peers: exit status $rc, expected 0"
expect "missing Asio" "# Boost.Asio: skipped, not available — install Boost (sudo apt-get install libboost-dev), then make bench"
expect "missing threads" "# threads: skipped, not available — build it: make bench"
expect "coop still measured" "  coop "

# A PATH without go and node (only python3 on it), and no go_bench built: the Go and Node
# peers are skipped with the lines that install them; coop is still measured.
mkdir "$work/path"
ln -s "$(python3 -c 'import sys; print(sys.executable)')" "$work/path/python3"  # not a shim that needs a PATH
PATH="$work/path" compare --systems coop,go1,goN,node --bin "$work/bin"
[ "$rc" = 0 ] || fail "missing Go and Node: exit status $rc, expected 0"
expect "missing Go" "# Go (GOMAXPROCS=1): skipped, not available — install Go (sudo apt-get install golang-go), then make bench"
expect "missing Go, all cores" "# Go (GOMAXPROCS=$(nproc)): skipped, not available — install Go"
expect "missing Node" "# Node.js: skipped, not available — install it: sudo apt-get install nodejs"
expect "coop still measured without Go and Node" "  coop "

# A Python without uvloop (site-packages off): uvloop is skipped, asyncio still measured.
cat >"$work/python-without-uvloop" <<WRAP
#!/bin/sh
exec python3 -S "\$@"
WRAP
chmod +x "$work/python-without-uvloop"
COOP_BENCH_PYTHON="$work/python-without-uvloop" compare --systems coop,asyncio,uvloop --bin "$work/bin"
[ "$rc" = 0 ] || fail "missing uvloop: exit status $rc, expected 0"
expect "missing uvloop" "# uvloop: skipped, not available — install it: sudo apt-get install python3-uvloop"
grep -qE "^  asyncio +[0-9,.]+ .*×" <<<"$out" || fail "asyncio's row with its ratio is missing:
$out"

# A peer that fails, and one that prints nonsense: each reported on its row; exit 1.
cat >"$work/bin/threads_bench" <<'FAKE'
#!/bin/sh
echo "threads_bench: cannot create a thread" >&2
exit 1
FAKE
cat >"$work/bin/asio_bench" <<'FAKE'
#!/bin/sh
echo "not json"
FAKE
chmod +x "$work/bin/threads_bench" "$work/bin/asio_bench"
compare --systems coop,asio,threads --bin "$work/bin"
[ "$rc" = 1 ] || fail "failing peers: exit status $rc, expected 1"
expect "failing peer" "FAILED  spawn: exit status 1: threads_bench: cannot create a thread"
expect "nonsense peer" "FAILED  spawn: unreadable output: 'not json'"
expect "the count of failures" "2 measurement(s) FAILED"

# Echo is reported by requests per server CPU-second first, raw requests per second after it
# (one short run of coop's own server against the one client).
ln -s "$(dirname "$coop_bench")/echo_client" "$work/bin/echo_client"
out=$(python3 "$src/bench/compare.py" --quick --only echo100 --systems coop --bin "$work/bin" 2>&1)
rc=$?
[ "$rc" = 0 ] || fail "echo: exit status $rc, expected 0: $out"
expect "echo's figure" "100 connections — req/CPU-s, higher is better"
grep -qE "^  system +median +runs +coop vs it +req/s +server CPU +B/conn" <<<"$out" ||
  fail "echo's columns are not median (req/CPU-s), then req/s, server CPU, B/conn:
$out"
grep -qE "^  coop +[0-9,]+ +[0-9,]+ +[0-9,]+ +[0-9]+% +[0-9,-]+$" <<<"$out" || fail "coop's echo row is not read:
$out"

# Bad flags: one line on stderr, exit 2.
for flags in "--only nope" "--systems nope" "--repeat 1000"; do
  out=$(python3 "$src/bench/compare.py" $flags 2>&1)
  rc=$?
  [ "$rc" = 2 ] || fail "compare.py $flags: exit status $rc, expected 2"
  [ "$(wc -l <<<"$out")" = 1 ] || fail "compare.py $flags: expected one line, got:
$out"
done

[ "$failed" = 0 ] && echo "compare.py: skips, failures and bad flags as documented"
exit "$failed"
