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
NUMBERED_GOAL := $(firstword $(filter lesson exercise hint,$(MAKECMDGOALS)))
ifneq ($(NUMBERED_GOAL),)
  ifneq ($(words $(N))$(filter 1 2 3 4 5 6 7 8 9 01 02 03 04 05 06 07 08 09,$(N)),1$(strip $(N)))
    $(error make $(NUMBERED_GOAL): N must be a number from 1 to 9 (got '$(N)'), e.g. make $(NUMBERED_GOAL) N=3)
  endif
endif

.PHONY: all build build-keep-going run lesson test exercise hint grade teeth golden bench deps check-asan check-tsan check-poll check-clang check-O0 clean help

all: build

help:
	@echo "coop — make targets"
	@echo "  make run            build, then run the first lesson"
	@echo "  make test           build, then run every test"
	@echo "  make lesson N=3     run lesson 03"
	@echo "  make exercise N=3   grade exercise 03, check by check, with a hint when one fails"
	@echo "  make hint N=3       the next hint for exercise 03 (ALL=1: every hint)"
	@echo "  make grade          grade every exercise: grade/results.json (Gradescope), grade/junit.xml"
	@echo "  make teeth          every grader fails on the stubs and passes on the solutions"
	@echo "  make golden         rewrite the lessons' golden files (tests/lessons/golden/) from this build"
	@echo "  make bench          run the benchmarks (optimised build in build-bench/)"
	@echo "  make deps           install what the build needs (apt-get; prints the brew line on macOS)"
	@echo "  make check-asan     runtime, lesson and solution tests with AddressSanitizer + UBSan, at -O0 (build-asan/)"
	@echo "  make check-tsan     thread tests with ThreadSanitizer (build-tsan/)"
	@echo "  make check-poll     socket tests on the poll() fallback instead of epoll (build-poll/)"
	@echo "  make check-clang    runtime tests built with Clang 14 at -O0 (build-clang/)"
	@echo "  make check-O0       runtime tests built with GCC at -O0 (build-O0/)"
	@echo "  make clean          remove the build directories"

# ---- setting up --------------------------------------------------------------------------

deps: $(DEPS_STAMP)

$(DEPS_STAMP):
	@sh .ci/install-deps.sh
	@mkdir -p $(BUILD) && touch $@

# Configure once; CMake re-runs itself when a CMakeLists.txt changes.
$(BUILD)/CMakeCache.txt: | $(DEPS_STAMP)
	@cmake -S . -B $(BUILD) -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DCMAKE_CXX_COMPILER="$$(sh .ci/install-deps.sh --compiler)" $(CMAKE_ARGS) >/dev/null

build: $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS)

# ---- for students ---------------------------------------------------------------------------

run: build
	@if [ -x $(BUILD)/lessons/lesson01 ]; then $(BUILD)/lessons/lesson01 $(ARGS); \
	 else $(BUILD)/lessons/demo $(ARGS); fi

lesson:
	@$(MAKE) --no-print-directory build
	@bin=$(BUILD)/lessons/lesson0$$(expr "$(N)" : '0*\([1-9]\)'); \
	 if [ ! -x $$bin ]; then echo "make lesson: lesson $(N) is not written yet" >&2; exit 2; fi; \
	 $$bin $(ARGS)

# `make test`: every test, then the exercises graded, with the progress table. An exercise
# that does not compile must not stop the others being graded, so the build keeps going
# past errors; `make test` still fails at the end. It fails when an exercise is failing,
# never merely because exercises are not started.
KEEP_GOING := $(if $(filter Ninja,$(GENERATOR)),-k 0,-k)
GRADE      := $(BUILD)/tests/coop_grade
GRADE_DIRS := $(BUILD)/tests $(BUILD)/grade-state

test: $(BUILD)/CMakeCache.txt
	@built=1; cmake --build $(BUILD) -j $(JOBS) -- $(KEEP_GOING) || \
	   { built=0; echo "make test: some targets did not compile (above); testing and grading the rest" >&2; }; \
	 ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS); tested=$$?; \
	 graded=1; [ -x $(GRADE) ] && $(GRADE) progress $(GRADE_DIRS) && graded=0; \
	 [ $$built = 1 ] && [ $$tested = 0 ] && [ $$graded = 0 ]

NN = $$(printf %02d $$(expr "$(N)" : '0*\([1-9]\)'))

# Grade one exercise, showing each check, its message, and a hint when it fails.
exercise:
	@$(MAKE) --no-print-directory build-keep-going
	@bin=$(BUILD)/tests/grade_exercise_$(NN); mkdir -p $(BUILD)/grade-state; \
	 if [ ! -x $$bin ]; then echo "make exercise: exercise $(N) did not compile (see the errors above)" >&2; exit 1; fi; \
	 $$bin --report $(BUILD)/grade-state/$(NN).report

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
	@cmake --build $(BUILD) -j $(JOBS) -- $(KEEP_GOING) >$(BUILD)/build.log 2>&1 || \
	   { grep -E "error|Error" $(BUILD)/build.log | head -40 >&2; echo "(some targets did not compile; full log: $(BUILD)/build.log)" >&2; }

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
bench: $(DEPS_STAMP)
	@cmake -S . -B build-bench -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER="$$(sh .ci/install-deps.sh --compiler)" $(CMAKE_ARGS) >/dev/null
	@cmake --build build-bench -j $(JOBS) --target coop_bench
	@build-bench/bench/coop_bench $(ARGS)

# Runtime tests in other configurations (CI runs these). Each has its own build tree.
# $(1) tree, $(2) compiler, $(3) CMake options, $(4) test label
define runtime_check
	@cmake -S . -B $(1) -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=$(2) $(3) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(1) -j $(JOBS)
	@ctest --test-dir $(1) --output-on-failure -j $(JOBS) -L $(4)
endef
CXX_DEFAULT = $$(sh .ci/install-deps.sh --compiler)

check-asan: $(DEPS_STAMP)
	$(call runtime_check,build-asan,$(CXX_DEFAULT),-DCOOP_SANITIZE=address$(,)undefined,"runtime|lessons|grading")
check-tsan: $(DEPS_STAMP)
	$(call runtime_check,build-tsan,$(CXX_DEFAULT),-DCOOP_SANITIZE=thread,threads)
check-poll: $(DEPS_STAMP)
	$(call runtime_check,build-poll,$(CXX_DEFAULT),-DCOOP_POLLER=poll,sockets)
check-clang: $(DEPS_STAMP)
	$(call runtime_check,build-clang,$$(command -v clang++-14 || echo clang++),,runtime)
check-O0: $(DEPS_STAMP)
	$(call runtime_check,build-O0,$(CXX_DEFAULT),,runtime)

clean:
	rm -rf $(BUILD) build-bench build-asan build-tsan build-poll build-clang build-O0

, := ,
