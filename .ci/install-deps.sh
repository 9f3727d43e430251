#!/bin/sh
# install-deps.sh — make sure this machine can build coop; install what is missing.
#
#   sh .ci/install-deps.sh             check, and install what is missing (apt-get, as root
#                                      or through sudo); where it cannot, print the one
#                                      command to run and exit 1
#   sh .ci/install-deps.sh --compiler  print the C++ compiler coop should use, and exit
#   sh .ci/install-deps.sh --ci        also install what CI needs beyond `make test`
#                                      (clang-14 and LLVM's libc++ for the Clang and portable
#                                      builds; the benchmark peers python3-uvloop and
#                                      libboost-dev)
#
# The Makefile runs it before the first build (make deps); CI runs it with --ci.
# Needed: CMake >= 3.22, a C++20 compiler with working coroutines (GCC >= 12 or
# Clang >= 14), the headers/CMake packages of fmt, doctest and CLI11, and for the lesson
# tests python3 and script.
set -u

mode=install
case "${1:-}" in
  --compiler) mode=compiler ;;
  --ci) mode=ci ;;
  "") ;;
  *) echo "install-deps.sh: unknown option '$1' (use --compiler or --ci)" >&2; exit 2 ;;
esac

# The major version of a compiler, or 0 when it is missing.
major() {
  command -v "$1" >/dev/null 2>&1 || { echo 0; return; }
  printf '__GNUC__ __clang_major__\n' | "$1" -E -x c++ - 2>/dev/null | tail -n 1 |
    awk '{ if ($2 != "__clang_major__") print $2; else print $1 }'
}

# The first compiler good enough for coop: $CXX if set, then GCC >= 12, then Clang >= 14.
pick_compiler() {
  if [ -n "${CXX:-}" ]; then echo "$CXX"; return 0; fi
  for c in g++ g++-14 g++-13 g++-12; do
    case "$(major "$c")" in 1[2-9]|[2-9][0-9]) echo "$c"; return 0 ;; esac
  done
  for c in clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
    case "$(major "$c")" in 1[4-9]|[2-9][0-9]) echo "$c"; return 0 ;; esac
  done
  return 1
}

if [ "$mode" = compiler ]; then
  pick_compiler || echo c++
  exit 0
fi

# What is missing, as package names for this system.
missing=""
os=$(uname -s)
add() { missing="$missing $1"; }
pkg() {  # pkg <debian name> <homebrew name>
  if [ "$os" = Darwin ]; then add "$2"; else add "$1"; fi
}

command -v cmake >/dev/null 2>&1 || pkg cmake cmake
cxx=$(pick_compiler) || { pkg g++-12 gcc; cxx=""; }
if [ -n "$cxx" ]; then
  has_header() {  # has_header <header> : can the chosen compiler find it?
    printf '#include <%s>\n' "$1" | "$cxx" -std=c++20 -E -x c++ - >/dev/null 2>&1 ||
      { [ "$os" = Darwin ] && command -v brew >/dev/null 2>&1 &&
        printf '#include <%s>\n' "$1" | "$cxx" -std=c++20 -E -x c++ -I"$(brew --prefix)/include" - >/dev/null 2>&1; }
  }
  has_header fmt/format.h || pkg libfmt-dev fmt
  has_header doctest/doctest.h || pkg doctest-dev doctest
  has_header CLI/CLI.hpp || pkg libcli11-dev cli11
else
  pkg libfmt-dev fmt; pkg doctest-dev doctest; pkg libcli11-dev cli11
fi
# The lesson tests check --trace-json output with Python (tests/lessons/check_trace_json.py)
# and colour on a pseudo-terminal with `script` (util-linux; part of macOS).
command -v python3 >/dev/null 2>&1 || pkg python3 python3
command -v script >/dev/null 2>&1 || pkg bsdutils util-linux
if [ "$mode" = ci ]; then
  command -v clang++-14 >/dev/null 2>&1 || add clang-14
  # LLVM's libc++, the standard library a Mac has (make check-portable).
  [ -f /usr/lib/llvm-14/include/c++/v1/coroutine ] || add libc++-14-dev
  [ -f /usr/lib/llvm-14/include/cxxabi.h ] || add libc++abi-14-dev
  command -v ninja >/dev/null 2>&1 || add ninja-build
  command -v ccache >/dev/null 2>&1 || add ccache  # CI's many build trees share compiles
  command -v git >/dev/null 2>&1 || add git
  # The peers `make bench` compares coop with (bench/compare.py skips a missing one):
  # Debian's python3 with uvloop, and Boost's headers for Boost.Asio.
  /usr/bin/python3 -c 'import uvloop' >/dev/null 2>&1 || add python3-uvloop
  [ -f /usr/include/boost/asio.hpp ] || add libboost-dev
  command -v valgrind >/dev/null 2>&1 || add valgrind  # make check-valgrind
  # libFuzzer (make fuzz): clang-14 only recommends it, and we install without recommends.
  ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1 || add libclang-rt-14-dev
fi
missing=$(echo $missing)  # trim

[ -z "$missing" ] && exit 0

if [ "$os" = Darwin ]; then
  echo "coop needs:$missing. Install them with:" >&2
  echo "    brew install $missing" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "coop needs: $missing (Debian package names), and this system has no apt-get." >&2
  echo "Install the equivalents with your package manager, then run make again." >&2
  exit 1
fi

if [ "$(id -u)" = 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1; then
  as_root="sudo"
else
  echo "coop needs: $missing. Install them as root with:" >&2
  echo "    apt-get update && apt-get install -y $missing" >&2
  exit 1
fi

echo "coop: installing $missing ${as_root:+(through sudo)}" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { $as_root apt-get update -qq && $as_root apt-get install -y -qq --no-install-recommends $missing; } >"$log" 2>&1; then
  tail -n 15 "$log" >&2
  rm -f "$log"
  echo "coop: could not install them. Run this, then make again:" >&2
  echo "    sudo apt-get update && sudo apt-get install -y $missing" >&2
  exit 1
fi
rm -f "$log"
echo "coop: installed $missing" >&2
