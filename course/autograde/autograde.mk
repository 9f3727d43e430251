# autograde.mk — the instructor's targets, included by the Makefile (course/autograde/README.md
# says how to use them):
#
#   make autograde SUBMISSION=DIR   grade one student's submission, sealed: grade/results.json
#                                   and grade/junit.xml
#   make autograde-setup            prepare and build the sealed tree (build-autograde/) once;
#                                   make autograde does it when needed
#   make gradescope                 Gradescope's autograder.zip (build-autograde/autograder.zip)
#   make student-release DIR=PATH   the students' repository: no solutions, no hidden parts,
#                                   a fresh git repository with one commit
#   make attacks                    hostile submissions against make autograde (as root; CTest
#                                   label `attacks`, a few minutes)

AUTOGRADE_DIR  ?= build-autograde
GRADESCOPE_ZIP ?= $(AUTOGRADE_DIR)/autograder.zip
AUTOGRADE       = bash course/autograde/autograde.sh

.PHONY: autograde autograde-setup gradescope student-release attacks

autograde: | $(DEPS_STAMP)
	@if [ -z "$(SUBMISSION)" ]; then echo "make autograde: say which submission, e.g. make autograde SUBMISSION=../alice" >&2; exit 2; fi
	@AUTOGRADE_DIR=$(AUTOGRADE_DIR) JOBS=$(JOBS) $(AUTOGRADE) grade "$(SUBMISSION)"

autograde-setup: | $(DEPS_STAMP)
	@AUTOGRADE_DIR=$(AUTOGRADE_DIR) JOBS=$(JOBS) $(AUTOGRADE) setup

gradescope:
	@bash course/autograde/gradescope/pack.sh "$(GRADESCOPE_ZIP)"

# `make student-release DIR=../coop-students` (a directory that does not exist yet, or is empty).
student-release:
	@if [ -z "$(DIR)" ]; then echo "make student-release: say where, e.g. make student-release DIR=../coop-students" >&2; exit 2; fi
	@bash course/autograde/student_release.sh "$(DIR)"

attacks: $(BUILD)/CMakeCache.txt
	@COOP_ATTACKS=1 ctest --test-dir $(BUILD) -L attacks --output-on-failure
