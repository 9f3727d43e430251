# coop — the front door. Two commands are all a student needs:
#
#   make run     build (installing what is missing), then run the first lesson
#   make test    build, then run every test
#
# Everything else is listed by `make help`. The build lives in build/ (CMake underneath;
# build/compile_commands.json is there for your editor).

BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)
GENERATOR  := $(if $(shell command -v ninja 2>/dev/null),Ninja,Unix Makefiles)
# WERROR=1 turns warnings into errors (CI sets it).
CMAKE_ARGS += $(if $(filter 1 ON on yes,$(WERROR)),-DCOOP_WERROR=ON,)

DEPS_STAMP := $(BUILD)/.deps-ok

# `make lesson N=3`, `make exercise N=3`, `make hint N=3`: a bad N is one line and exit 2,
# before anything is built.
# The numbers come from the course itself: the exercises from the one list
# (course/exercises.list), the lessons from lessons/NN_*.cpp; leading zeros dropped.
NUMBERED_GOAL := $(firstword $(filter lesson exercise hint,$(MAKECMDGOALS)))
ifneq ($(NUMBERED_GOAL),)
  strip_zeros = $(foreach n,$(1),$(shell expr "x$(n)" : 'x0*\([1-9][0-9]*\)$$'))
  ifeq ($(NUMBERED_GOAL),lesson)
    NUMBERS := $(call strip_zeros,$(patsubst lessons/%,%,$(foreach f,$(wildcard lessons/[0-9][0-9]_*.cpp),$(firstword $(subst _, ,$(f))))))
  else
    NUMBERS := $(call strip_zeros,$(shell sed -n 's/^exercise  *\([0-9][0-9]*\) .*/\1/p' course/exercises.list))
  endif
  N_NUMBER := $(if $(filter 1,$(words $(N))),$(call strip_zeros,$(N)))
  ifeq ($(filter $(N_NUMBER),$(NUMBERS)),)
    $(error make $(NUMBERED_GOAL): N must be a number from $(firstword $(NUMBERS)) to $(lastword $(NUMBERS)) (got '$(N)'), e.g. make $(NUMBERED_GOAL) N=3)
  endif
endif

# `make stress SEEDS=100000 [FIRST=1]`, `make fuzz FUZZ_SECONDS=60`: likewise. $(call
# count,X) is X when X is a whole number above 0, else empty.
SEEDS        ?= 10000
FIRST        ?= 1
FUZZ_SECONDS ?= 60
digits = $(subst 0,,$(subst 1,,$(subst 2,,$(subst 3,,$(subst 4,,$(subst 5,,$(subst 6,,$(subst 7,,$(subst 8,,$(subst 9,,$(1)))))))))))
count  = $(if $(and $(filter 1,$(words $(1))),$(if $(call digits,$(1)),,1),$(subst 0,,$(1))),$(1))
ifneq ($(filter stress,$(MAKECMDGOALS)),)
  ifeq ($(call count,$(SEEDS)),)
    $(error make stress: SEEDS must be a number of seeds above 0 (got '$(SEEDS)'), e.g. make stress SEEDS=100000)
  endif
  ifeq ($(call count,1$(FIRST)),)
    $(error make stress: FIRST must be a seed number, 0 or more (got '$(FIRST)'), e.g. make stress FIRST=500000)
  endif
endif
ifneq ($(filter fuzz,$(MAKECMDGOALS)),)
  ifeq ($(call count,$(FUZZ_SECONDS)),)
    $(error make fuzz: FUZZ_SECONDS must be a number of seconds above 0 (got '$(FUZZ_SECONDS)'), e.g. make fuzz FUZZ_SECONDS=60)
  endif
endif

.PHONY: all build build-keep-going run lesson test exercise hint grade teeth golden bench bench-core bench-compare bench-build load deps check-asan check-tsan check-poll check-clang check-clang-opt check-portable check-gcc11 check-O0 check-valgrind stress fuzz clean help

all: build

help:
	@echo "coop — make targets (students: ./coop does all the student's ones; ./coop --help)"
	@echo "  make run            build, then run the first lesson"
	@echo "  make test           build, then run every test"
	@echo "  make lesson N=3     run lesson 03"
	@echo "  make exercise N=3   grade exercise 03, check by check, with a hint when one fails"
	@echo "  make hint N=3       the next hint for exercise 03 (ALL=1: every hint)"
	@echo "  make grade          grade every exercise: grade/results.json (Gradescope), grade/junit.xml"
	@echo "  make teeth          every grader fails on the stubs and passes on the solutions"
	@echo "  make golden         rewrite the lessons' golden files (tests/lessons/golden/) from this build"
	@echo "  make bench          run the benchmarks, then coop side by side with asyncio, uvloop, Boost.Asio, threads"
	@echo "  make bench-core     only coop's own figures; make bench-compare: only the side-by-side tables"
	@echo "  make load           the echo server under 10,000 connections: nothing lost, nothing kept"
	@echo "  make deps           install what the build needs (apt-get; prints the brew line on macOS; DEPS_OK=1: skip)"
	@echo "  make check-asan     runtime, lesson and solution tests with AddressSanitizer + UBSan, at -O0 (build-asan/)"
	@echo "  make check-tsan     thread tests with ThreadSanitizer (build-tsan/)"
	@echo "  make check-poll     socket tests on the poll() fallback instead of epoll (build-poll/)"
	@echo "  make check-clang    runtime tests built with Clang 14 at -O0 (build-clang/)"
	@echo "  make check-clang-opt everything built with Clang 14, optimised (RelWithDebInfo), every test (build-clang-opt/)"
	@echo "  make check-gcc11     everything built with GCC 11 (the oldest supported), optimised, every test (build-gcc11/)"
	@echo "  make check-portable the portable build (POSIX calls only, as on a Mac) with Clang 14 and libc++, every test (build-portable/)"
	@echo "  make check-O0       runtime tests built with GCC at -O0 (build-O0/)"
	@echo "  make check-valgrind every lesson under valgrind memcheck: no error, no leak"
	@echo "  make stress         random concurrent programs, each checked (SEEDS=10000 of them, from FIRST=1)"
	@echo "  make fuzz           the same programs driven by libFuzzer for FUZZ_SECONDS=60 (Clang 14; build-fuzz/)"
	@echo "  make clean          remove the build directories"

# ---- setting up --------------------------------------------------------------------------

deps: $(DEPS_STAMP)

# DEPS_OK=1: the dependencies are there (built into a prefix named by CMAKE_PREFIX_PATH, say)
# even if .ci/install-deps.sh cannot see them: skip its check.
$(DEPS_STAMP):
	@$(if $(filter 1,$(DEPS_OK)),true,sh .ci/install-deps.sh)
	@mkdir -p $(BUILD) && touch $@

# Configure once; CMake re-runs itself when a CMakeLists.txt changes.
$(BUILD)/CMakeCache.txt: | $(DEPS_STAMP)
	@cmake -S . -B $(BUILD) -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DCMAKE_CXX_COMPILER="$$(sh .ci/install-deps.sh --compiler)" $(CMAKE_ARGS) >/dev/null

build: $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS)

# ---- for students ---------------------------------------------------------------------------

# Only what the lesson needs is built (the runtime and the lesson: about a minute on a fresh
# clone), so the first lesson is not kept waiting by the tests, graders and benchmarks.
run: $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS) --target lesson01
	@$(BUILD)/lessons/lesson01 $(ARGS)

lesson: $(BUILD)/CMakeCache.txt
	@n=$$(printf %02d $(N_NUMBER)); \
	 cmake --build $(BUILD) -j $(JOBS) --target lesson$$n || \
	   { echo "make lesson: lesson $$n did not build (the errors are above)" >&2; exit 2; }; \
	 $(BUILD)/lessons/lesson$$n $(ARGS)

# `make test`: every test, then the exercises graded, with the progress table. An exercise
# that does not compile must not stop the others being graded, so the build keeps going
# past errors; `make test` still fails at the end. It fails when an exercise is failing,
# never merely because exercises are not started.
GRADE      := $(BUILD)/tests/coop_grade
# Everything is built by the course command (through ./coop, which builds that command first,
# as make exercise does), which builds as `cmake --build` does and then makes sure of each
# exercise's grader as ./coop run does: of the files as saved now (a save during the build is
# built again, not graded as the text the compiler read), and removed, so the old code is
# never graded in its place, when the exercise no longer compiles.
# $(call BUILD_EVERYTHING) shows the build; $(call BUILD_EVERYTHING,--quiet) only its errors.
BUILD_EVERYTHING = COOP_BUILD=$(abspath $(BUILD)) ./coop build $(1)
GRADE_DIRS := $(BUILD)/tests $(BUILD)/grade-state

test: $(BUILD)/CMakeCache.txt
	@built=1; { $(call BUILD_EVERYTHING); } || \
	   { built=0; echo "make test: some targets did not compile (above); testing and grading the rest" >&2; }; \
	 ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS); tested=$$?; \
	 graded=1; [ -x $(GRADE) ] && $(GRADE) progress $(GRADE_DIRS) && graded=0; \
	 [ $$built = 1 ] && [ $$tested = 0 ] && [ $$graded = 0 ]


# Grade one exercise, showing each check, its message, and a hint when it fails.
# The same as ./coop run N: one way to grade, which builds exactly what was saved and runs
# the grader under the course's limits.
exercise: $(BUILD)/CMakeCache.txt
	@COOP_BUILD=$(abspath $(BUILD)) ./coop run $(N_NUMBER)

# The next hint for exercise N (a nudge, then a stronger one, then the approach).
hint:
	@$(MAKE) --no-print-directory build-keep-going
	@$(GRADE) hint $(GRADE_DIRS) $(N) $(if $(ALL),--all,)

# For instructors: grade everything; write grade/results.json (Gradescope) and
# grade/junit.xml. Always writes them, whatever the exercises do.
grade:
	@$(MAKE) --no-print-directory build-keep-going
	@$(GRADE) grade $(GRADE_DIRS) grade

# The graders have teeth: every part fails against the pristine stubs and passes against
# the solutions (CI runs this on a clean clone).
teeth: build
	@$(GRADE) teeth $(GRADE_DIRS)

build-keep-going: $(BUILD)/CMakeCache.txt
	@{ $(call BUILD_EVERYTHING,--quiet); } || echo "(some targets did not compile; full log: $(BUILD)/grade-state/build.log)" >&2

# ---- for developers -------------------------------------------------------------------------

# The lesson tests compare each lesson's --virtual-time output with a golden file. After
# changing a lesson on purpose, rewrite them here and review the diff before committing.
golden: build
	@for bin in $(BUILD)/lessons/lesson[0-9][0-9]; do \
	   name=$$(basename $$bin); \
	   NO_COLOR=1 COOP_LESSON_GOLDEN=1 $$bin --virtual-time </dev/null >tests/lessons/golden/$$name.txt || \
	     { echo "make golden: $$name --virtual-time failed" >&2; exit 1; }; \
	   echo "wrote tests/lessons/golden/$$name.txt"; \
	 done

# Benchmarks are only meaningful optimised, so they get their own tree, at -O2 (the targets
# are stated for -O2; CMake's Release is -O3) with symbols for perf annotate.
bench: bench-build
	@build-bench/bench/coop_bench $(ARGS)
	@python3 bench/compare.py $(ARGS)

# Only one half: coop's own figures, or coop side by side with asyncio, uvloop, Boost.Asio
# and threads (bench/compare.py; it takes the same ARGS).
bench-core: bench-build
	@build-bench/bench/coop_bench $(ARGS)
bench-compare: bench-build
	@python3 bench/compare.py $(ARGS)

# coop's echo server under sustained load: 10,000 connections, every echo checked; tasks,
# frames and descriptors back to their baseline after each round (tests/load/load_test.py;
# ARGS="--seconds 10 --rounds 3", say).
load: bench-build
	@python3 tests/load/load_test.py $(ARGS)

# Builds coop_bench and what it and compare.py run: echo_client, threads_bench, asio_bench.
bench-build: $(DEPS_STAMP)
	@cmake -S . -B build-bench -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER="$$(sh .ci/install-deps.sh --compiler)" $(CMAKE_ARGS) >/dev/null
	@cmake --build build-bench -j $(JOBS) --target coop_bench

# Runtime tests in other configurations (CI runs these). Each has its own build tree.
# $(1) tree, $(2) compiler, $(3) CMake options, $(4) test label
# $(5): the target to build (tests_LABEL builds only that label's tests); empty: everything.
define runtime_check
	@cmake -S . -B $(1) -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=$(2) $(3) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(1) -j $(JOBS) $(if $(5),--target $(5))
	@ctest --test-dir $(1) --output-on-failure -j $(JOBS) -L $(4)
endef
CXX_DEFAULT = $$(sh .ci/install-deps.sh --compiler)

check-asan: $(DEPS_STAMP)
	$(call runtime_check,build-asan,$(CXX_DEFAULT),-DCOOP_SANITIZE=address$(,)undefined,"runtime|lessons|grading")
check-tsan: $(DEPS_STAMP)
	$(call runtime_check,build-tsan,$(CXX_DEFAULT),-DCOOP_SANITIZE=thread,threads,tests_threads)
check-poll: $(DEPS_STAMP)
	$(call runtime_check,build-poll,$(CXX_DEFAULT),-DCOOP_POLLER=poll,sockets,tests_sockets)
check-clang: $(DEPS_STAMP)
	$(call runtime_check,build-clang,$$(command -v clang++-14 || echo clang++),,runtime,tests_runtime)
check-O0: $(DEPS_STAMP)
	$(call runtime_check,build-O0,$(CXX_DEFAULT),,runtime,tests_runtime)

# Everything built and every test run, in other configurations (CI runs these too).
# $(1) tree, $(2) compiler, $(3) CMake options
define full_check
	@cmake -S . -B $(1) -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=$(2) $(3) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(1) -j $(JOBS)
	@ctest --test-dir $(1) --output-on-failure -j $(JOBS)
endef
CLANG_CXX = $$(command -v clang++-14 || echo clang++)

# Clang's optimiser (which elides coroutine frames GCC allocates) on the whole course.
check-clang-opt: $(DEPS_STAMP)
	$(call full_check,build-clang-opt,$(CLANG_CXX),)
# The oldest compiler coop supports (GCC 11: Ubuntu 22.04's), on the whole course, so that
# the README's "GCC 11 or Clang 14" stays true.
check-gcc11: $(DEPS_STAMP)
	$(call full_check,build-gcc11,$$(command -v g++-11 || echo g++-11),)
# The portable build, the one a Mac takes: POSIX calls only (the poll() poller; no epoll,
# accept4 or /proc), LLVM's libc++, fmt header-only (CMakeLists.txt, COOP_PORTABLE).
check-portable: $(DEPS_STAMP)
	$(call full_check,build-portable,$(CLANG_CXX),-DCOOP_PORTABLE=ON -DCOOP_LIBCXX=ON)

# Every lesson under valgrind's memcheck: no error and no leak (definite, indirect or
# possible). The frame pool hides a use after free from memcheck (check-asan catches
# those); this adds leaks and uninitialised reads, in the optimised build students run.
# Lesson 02 holds 50 connections, not 1,000: valgrind runs one thread at a time.
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full \
  --errors-for-leak-kinds=definite,indirect,possible --show-leak-kinds=definite,indirect,possible
check-valgrind: build
	@command -v valgrind >/dev/null || { echo "make check-valgrind: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
	@for bin in $(BUILD)/lessons/lesson[0-9][0-9]; do \
	   name=$$(basename $$bin); extra=; [ $$name = lesson02 ] && extra="--connections 50"; \
	   if $(VALGRIND) $$bin --virtual-time $$extra </dev/null >/dev/null 2>$(BUILD)/$$name.valgrind; then \
	     echo "valgrind: $$name clean"; \
	   else echo "valgrind: $$name FAILED (see $(BUILD)/$$name.valgrind):" >&2; head -n 30 $(BUILD)/$$name.valgrind >&2; exit 1; fi; \
	 done

# The randomized scheduler stress test (tests/stress/program.hpp): SEEDS random programs, each
# run twice under virtual time and checked; a failing seed prints the command replaying it.
stress: $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS) --target coop_stress
	@$(BUILD)/tests/stress/coop_stress --first $(or $(FIRST),1) --count $(SEEDS)

# The same interpreter under libFuzzer, coverage-guided, for FUZZ_SECONDS. Its own tree,
# built by Clang 14 with ASan + UBSan. It starts from fuzz/corpus (in git) and keeps what
# it finds in build-fuzz/corpus (not in git); a failing input lands in build-fuzz/crashes/.
# The fuzzer's running log goes to build-fuzz/fuzz.log; shown here: its final statistics,
# or on failure the end of the log.
FUZZ_CXX = $$(command -v clang++-14 || echo clang++)
fuzz: $(DEPS_STAMP)
	@cmake -S . -B build-fuzz -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=$(FUZZ_CXX) \
	  -DCOOP_FUZZ=ON -DCOOP_SANITIZE=address$(,)undefined $(CMAKE_ARGS) >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_ops
	@mkdir -p build-fuzz/corpus build-fuzz/crashes
	@echo "fuzz_ops: fuzzing for $(FUZZ_SECONDS) s (log: build-fuzz/fuzz.log)"
	@build-fuzz/fuzz/fuzz_ops -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -max_len=1024 -timeout=10 \
	   -artifact_prefix=build-fuzz/crashes/ build-fuzz/corpus fuzz/corpus >build-fuzz/fuzz.log 2>&1; rc=$$?; \
	 if [ $$rc = 0 ]; then grep -E '^(Done|stat::)' build-fuzz/fuzz.log; \
	 else tail -n 60 build-fuzz/fuzz.log >&2; echo "make fuzz: fuzz_ops failed (exit $$rc); the input is in build-fuzz/crashes/" >&2; fi; \
	 exit $$rc

# Instructors: sealed autograding, Gradescope's autograder.zip, the students' repository.
include course/autograde/autograde.mk

clean:
	rm -rf $(BUILD) build-bench build-asan build-tsan build-poll build-clang build-clang-opt build-portable build-O0 build-gcc11 build-fuzz

, := ,
