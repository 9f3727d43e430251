# make_bad_input.cmake — a bad number given to make is one line and exit status 2, before
# anything is built; a refused connection is one line and exit status 1.
#
#   cmake -DSOURCE=<repo> -DECHO_CLIENT=<path or empty> -P make_bad_input.cmake
#
# (The lessons' own bad flags are tested per lesson, tests/lessons/lesson_test.cmake; the
# graders' hang / crash / deadlock / throw, by tests/grading/student_test.sh.)
cmake_minimum_required(VERSION 3.22)
find_program(MAKE_PROGRAM NAMES make gmake REQUIRED)

function(expect_one_line what rc_wanted pattern)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY ${SOURCE} INPUT_FILE /dev/null
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
  string(STRIP "${err}" stripped)
  string(FIND "${stripped}" "\n" newline)
  if(NOT rc STREQUAL "${rc_wanted}" OR NOT newline EQUAL -1 OR NOT stripped MATCHES "${pattern}")
    message(FATAL_ERROR "${what}: expected exit ${rc_wanted} and one line matching '${pattern}'; "
                        "got exit ${rc}, stderr:\n${err}\nstdout:\n${out}")
  endif()
  message(STATUS "${what}: ${stripped}")
endfunction()

# -n: make parses the Makefile (where the check is) but would run nothing even if it passed.
# Run from `make test`, the outer make's flags (a jobserver it does not share) would add a
# warning line: this make starts afresh.
set(MAKE ${CMAKE_COMMAND} -E env --unset=MAKEFLAGS --unset=MFLAGS --unset=MAKELEVEL ${MAKE_PROGRAM})
foreach(goal lesson exercise hint)
  expect_one_line("make ${goal} N=42" 2 "N must be a number from 1 to 9 \\(got '42'\\)"
                  ${MAKE} -n --no-print-directory ${goal} N=42)
  expect_one_line("make ${goal} N=abc" 2 "N must be a number from 1 to 9 \\(got 'abc'\\)"
                  ${MAKE} -n --no-print-directory ${goal} N=abc)
endforeach()
expect_one_line("make lesson (no N)" 2 "N must be a number from 1 to 9 \\(got ''\\)"
                ${MAKE} -n --no-print-directory lesson)

# Port 1 on loopback: nothing listens there (it is privileged, and no test binds it).
if(ECHO_CLIENT)
  expect_one_line("echo_client to a closed port" 1 "connect to 127\\.0\\.0\\.1:1: Connection refused"
                  ${ECHO_CLIENT} --port 1 --connections 3 --seconds 1)
endif()
