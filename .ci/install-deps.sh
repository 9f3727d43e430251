#!/bin/sh
# install-deps.sh — make sure this machine can build coop; install what is missing.
#
#   sh .ci/install-deps.sh             check, and install what is missing (apt-get, as root
#                                      or through sudo); where it cannot, print the one
#                                      command to run and exit 1
#   sh .ci/install-deps.sh --compiler  print the C++ compiler coop should use, and exit
#   sh .ci/install-deps.sh --ci        also install what CI needs beyond `make test`
#                                      (clang-14 and LLVM's libc++ for the Clang and portable
#                                      builds; g++-11, the oldest GCC supported; the benchmark peers python3-uvloop,
#                                      libboost-dev, golang-go and nodejs)
#
# The Makefile runs it before the first build (make deps); CI runs it with --ci.
# Needed: CMake >= 3.22, a C++20 compiler with working coroutines (GCC >= 11 or
# Clang >= 14: the oldest that pass every test), the headers/CMake packages of fmt (>= 8),
# doctest and CLI11, and for the lesson tests python3 and script.
#
# Without root or sudo it cannot install; it says what to ask for, or how to use libraries
# built into a directory of one's own (CMAKE_PREFIX_PATH). `make DEPS_OK=1` skips it.
set -u

mode=install
case "${1:-}" in
  --compiler) mode=compiler ;;
  --ci) mode=ci ;;
  "") ;;
  *) echo "install-deps.sh: unknown option '$1' (use --compiler or --ci)" >&2; exit 2 ;;
esac

# What a compiler really is, asked of its preprocessor, not read from its name: "gcc 12",
# "clang 14" (Apple's Clang too), or nothing when it is missing or no C++ compiler. A
# `g++` that is Clang underneath is Clang (on macOS it is, legitimately).
identify() {
  command -v "$1" >/dev/null 2>&1 || return 1
  printf '#if defined(__clang__)\nclang __clang_major__\n#elif defined(__GNUC__)\ngcc __GNUC__\n#endif\n' |
    "$1" -E -P -x c++ - 2>/dev/null | awk 'NF == 2 && $2 ~ /^[0-9]+$/ { print; found = 1; exit } END { exit !found }'
}

# Is it good enough for coop: GCC >= 11 or Clang >= 14 by what it is, and does it compile
# C++20 coroutines? With a second argument, says why not on stderr.
good_enough() {  # good_enough <compiler> [explain]
  what=$(identify "$1") || { [ -n "${2:-}" ] && echo "coop: $1: not found, or not a C++ compiler" >&2; return 1; }
  family=${what% *}; version=${what#* }
  case "$family" in
    gcc) minimum=11 ;;
    *) minimum=14 ;;
  esac
  if [ "$version" -lt "$minimum" ]; then
    [ -n "${2:-}" ] && echo "coop: $1 is $what: too old (coop needs GCC >= 11 or Clang >= 14)" >&2
    return 1
  fi
  if ! printf '#include <coroutine>\nint main() {}\n' | "$1" -std=c++20 -fsyntax-only -x c++ - >/dev/null 2>&1; then
    [ -n "${2:-}" ] && echo "coop: $1 ($what) cannot compile C++20 coroutines (#include <coroutine>)" >&2
    return 1
  fi
  return 0
}

# The first compiler good enough for coop: $CXX if set (and good enough), then GCC, then
# Clang, newest names first.
pick_compiler() {
  if [ -n "${CXX:-}" ]; then
    good_enough "$CXX" && { echo "$CXX"; return 0; }
    return 1
  fi
  for c in g++ g++-14 g++-13 g++-12 g++-11 clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
    good_enough "$c" && { echo "$c"; return 0; }
  done
  return 1
}

if [ "$mode" = compiler ]; then
  pick_compiler || echo "${CXX:-c++}"
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
if [ -n "${CXX:-}" ] && ! good_enough "$CXX" explain; then
  echo "coop: CXX=$CXX is not a compiler coop can use; unset CXX to let the build pick one" >&2
  exit 1
fi
cxx=$(pick_compiler)
if [ -z "$cxx" ]; then
  if [ "$os" = Darwin ]; then
    echo "coop needs a C++20 compiler (Apple Clang 14 or newer, from Xcode 14): install the" >&2
    echo "command-line tools with   xcode-select --install   then run make again." >&2
    exit 1
  fi
  pkg g++-12 gcc
  # The libraries are looked for with whatever compiler there is, so that those already
  # installed are not installed again.
  for c in g++ clang++ c++; do identify "$c" >/dev/null && { cxx=$c; break; }; done
fi
# What the prefixes named in CMAKE_PREFIX_PATH, and Homebrew's, hold counts too.
include_flags=""
for prefix in $(echo "${CMAKE_PREFIX_PATH:-}" | tr ':;' '  '); do include_flags="$include_flags -I$prefix/include"; done
if [ "$os" = Darwin ] && command -v brew >/dev/null 2>&1; then include_flags="$include_flags -I$(brew --prefix)/include"; fi
compiles() {  # compiles <source text>: can the chosen compiler preprocess it?
  [ -n "$cxx" ] && printf '%b' "$1" | "$cxx" -std=c++20 -E -x c++ $include_flags - >/dev/null 2>&1
}
compiles '#include <fmt/format.h>\n#if FMT_VERSION < 80000\n#error fmt older than 8\n#endif\n' || pkg libfmt-dev fmt
compiles '#include <doctest/doctest.h>\n' || pkg doctest-dev doctest
compiles '#include <CLI/CLI.hpp>\n' || pkg libcli11-dev cli11
# The lesson tests check --trace-json output with Python (tests/lessons/check_trace_json.py)
# and colour on a pseudo-terminal with `script` (util-linux; part of macOS).
command -v python3 >/dev/null 2>&1 || pkg python3 python3
# ccache: a rebuild after a small change, or a second checkout, reuses what was compiled
# (CMakeLists.txt uses it where installed). Worth its 1 MB to a student who rebuilds often.
command -v ccache >/dev/null 2>&1 || pkg ccache ccache
command -v script >/dev/null 2>&1 || pkg bsdutils util-linux
if [ "$mode" = ci ]; then
  command -v clang++-14 >/dev/null 2>&1 || add clang-14
  # The oldest GCC coop supports, built and tested in CI (make check-gcc11).
  command -v g++-11 >/dev/null 2>&1 || add g++-11
  # LLVM's libc++, the standard library a Mac has (make check-portable).
  [ -f /usr/lib/llvm-14/include/c++/v1/coroutine ] || add libc++-14-dev
  [ -f /usr/lib/llvm-14/include/cxxabi.h ] || add libc++abi-14-dev
  command -v ninja >/dev/null 2>&1 || add ninja-build
  command -v git >/dev/null 2>&1 || add git
  # The peers `make bench` compares coop with (bench/compare.py skips a missing one):
  # Debian's python3 with uvloop, Boost's headers for Boost.Asio, Go, and Node.js.
  /usr/bin/python3 -c 'import uvloop' >/dev/null 2>&1 || add python3-uvloop
  [ -f /usr/include/boost/asio.hpp ] || add libboost-dev
  command -v go >/dev/null 2>&1 || add golang-go
  command -v node >/dev/null 2>&1 || command -v nodejs >/dev/null 2>&1 || add nodejs
  command -v valgrind >/dev/null 2>&1 || add valgrind  # make check-valgrind
  # libFuzzer (make fuzz): clang-14 only recommends it, and we install without recommends.
  ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1 || add libclang-rt-14-dev
fi
missing=$(echo $missing)  # trim

[ -z "$missing" ] && exit 0

# The two ways forward for an account that cannot install packages.
cannot_install() {
  cat >&2 <<EOF
This account cannot install packages. Two ways forward:
  1. Ask whoever administers this machine to install them:
         $1
  2. Or build them into a directory of your own (each is a CMake project: fmt, doctest,
     CLI11), e.g.   cmake -S fmt -B fmt/build -DCMAKE_INSTALL_PREFIX=\$HOME/.local &&
     cmake --build fmt/build --target install   and point coop's build at it:
         export CMAKE_PREFIX_PATH=\$HOME/.local
     This script then finds them there. Where it still cannot, tell make that the
     dependencies are there and it skips this check:   make DEPS_OK=1
EOF
}

if [ "$os" = Darwin ]; then
  echo "coop needs:$missing. Install them with:" >&2
  echo "    brew install $missing" >&2
  if ! command -v brew >/dev/null 2>&1; then
    echo "This Mac has no Homebrew. Install it (https://brew.sh: one command in Terminal, then" >&2
    echo "open a new Terminal), run the line above, then make again. With MacPorts instead:" >&2
    echo "sudo port install cmake libfmt doctest cli11, then export CMAKE_PREFIX_PATH=/opt/local." >&2
  fi
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
  echo "coop needs: $missing (not root, and no sudo)." >&2
  cannot_install "apt-get update && apt-get install -y $missing"
  exit 1
fi

echo "coop: installing $missing ${as_root:+(through sudo)}" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { $as_root apt-get update -qq && $as_root apt-get install -y -qq --no-install-recommends $missing; } >"$log" 2>&1; then
  tail -n 15 "$log" >&2
  rm -f "$log"
  echo "coop: could not install $missing${as_root:+ through sudo} (above)." >&2
  cannot_install "apt-get update && apt-get install -y $missing"
  exit 1
fi
rm -f "$log"
echo "coop: installed $missing" >&2
