# lesson_test.cmake — one check of one lesson binary, run by CTest (tests/CMakeLists.txt):
#   cmake -DLESSON=path/to/lesson03 -DMODE=<mode> [-DGOLDEN=file] [-DWORK=dir] -P lesson_test.cmake
#
# Modes, each what a student or an instructor relies on:
#   real       runs unattended (stdin closed) in real time and exits 0
#   golden     under --virtual-time the output is exactly the golden file (machine-dependent
#              figures masked by COOP_LESSON_GOLDEN=1; colour off by NO_COLOR)
#   trace-json --trace-json FILE writes JSON that parses, with one named track per task and
#              slices on them
#   help       --help exits 0 and lists the kit's flags
#   bad-input  a bad flag, a bad --only number and an unwritable --trace-json FILE (lesson 02
#              also: bad --connections, and an open-files hard limit too low) each give
#              one line on stderr and exit 2
#   no-color   on a terminal (a pseudo-terminal from `script`) output is coloured, and with
#              NO_COLOR set or --no-color it holds no escape code
cmake_minimum_required(VERSION 3.22)
get_filename_component(name "${LESSON}" NAME)
string(ASCII 27 ESC)
# The modes that check the kit (JSON, colour) need not hold lesson 02's 10,000 connections:
# 100 show the same. `real` and `golden` run it as students do, by default.
set(small)        # as arguments
set(small_text)   # inside a shell command line
if(name STREQUAL "lesson02")
  set(small --connections 100)
  set(small_text "--connections 100")
endif()

function(run_lesson)
  cmake_parse_arguments(R "" "RESULT;OUT;ERR" "ARGS;ENV" ${ARGN})
  execute_process(COMMAND ${CMAKE_COMMAND} -E env ${R_ENV} ${LESSON} ${R_ARGS}
                  INPUT_FILE /dev/null
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc
                  TIMEOUT 120)
  set(${R_RESULT} "${rc}" PARENT_SCOPE)
  set(${R_OUT} "${out}" PARENT_SCOPE)
  set(${R_ERR} "${err}" PARENT_SCOPE)
endfunction()

function(expect_one_line_and_exit_2 what)
  run_lesson(RESULT rc OUT out ERR err ARGS ${ARGN})
  if(NOT rc STREQUAL "2")
    message(FATAL_ERROR "${name} ${what}: exit status ${rc}, expected 2\nstderr: ${err}")
  endif()
  string(STRIP "${err}" stripped)
  string(FIND "${stripped}" "\n" newline)
  if(stripped STREQUAL "" OR NOT newline EQUAL -1)
    message(FATAL_ERROR "${name} ${what}: expected exactly one line on stderr, got:\n${err}")
  endif()
  string(FIND "${stripped}" "${name}:" prefix)
  if(NOT prefix EQUAL 0)
    message(FATAL_ERROR "${name} ${what}: the message should start with '${name}:', got: ${stripped}")
  endif()
endfunction()

if(MODE STREQUAL "real")
  run_lesson(RESULT rc OUT out ERR err ARGS --no-color)
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "${name}: exit status ${rc}\n--- stdout (end)\n${out}\n--- stderr\n${err}")
  endif()

elseif(MODE STREQUAL "golden")
  run_lesson(RESULT rc OUT out ERR err ARGS --virtual-time ENV NO_COLOR=1 COOP_LESSON_GOLDEN=1)
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "${name} --virtual-time: exit status ${rc}\n${err}")
  endif()
  file(WRITE "${WORK}/${name}.virtual.txt" "${out}")
  if(NOT EXISTS "${GOLDEN}")
    message(FATAL_ERROR "${name}: no golden file ${GOLDEN}; run `make golden` and review it")
  endif()
  file(READ "${GOLDEN}" expected)
  if(NOT out STREQUAL expected)
    execute_process(COMMAND diff -u "${GOLDEN}" "${WORK}/${name}.virtual.txt" OUTPUT_VARIABLE d)
    message(FATAL_ERROR "${name} --virtual-time differs from ${GOLDEN} "
                        "(if the change is intended: make golden, then review the diff)\n${d}")
  endif()

elseif(MODE STREQUAL "trace-json")
  set(file "${WORK}/${name}.trace.json")
  file(REMOVE "${file}")
  run_lesson(RESULT rc OUT out ERR err ARGS --virtual-time --no-timeline --trace-json ${file} ${small})
  if(NOT rc STREQUAL "0" OR NOT EXISTS "${file}")
    message(FATAL_ERROR "${name} --trace-json: exit status ${rc}, file written: ${file}\n${err}")
  endif()
  # CMake's string(JSON) re-parses the document on every call, far too slow for a trace of
  # thousands of events, so Python checks it.
  find_program(PYTHON python3)
  if(NOT PYTHON)
    message(FATAL_ERROR "trace-json: needs python3 to check the JSON (make deps installs it)")
  endif()
  execute_process(COMMAND ${PYTHON} ${CMAKE_CURRENT_LIST_DIR}/check_trace_json.py "${file}"
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 120)
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "${name} --trace-json: ${out}${err}")
  endif()

elseif(MODE STREQUAL "help")
  run_lesson(RESULT rc OUT out ERR err ARGS --help)
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "${name} --help: exit status ${rc}")
  endif()
  foreach(flag --step --virtual-time --trace --timeline --trace-json --list --only --no-color)
    string(FIND "${out}" "${flag}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "${name} --help does not mention ${flag}:\n${out}")
    endif()
  endforeach()
  run_lesson(RESULT rc OUT out ERR err ARGS --list)
  if(NOT rc STREQUAL "0" OR NOT out MATCHES "\n  1\\. ")
    message(FATAL_ERROR "${name} --list: exit status ${rc}, output:\n${out}")
  endif()

elseif(MODE STREQUAL "bad-input")
  expect_one_line_and_exit_2("--no-such-flag" --no-such-flag)
  expect_one_line_and_exit_2("--only 99" --only 99)
  expect_one_line_and_exit_2("--only 0" --only 0)
  expect_one_line_and_exit_2("--only abc" --only abc)
  expect_one_line_and_exit_2("--trace-json into a missing directory" --trace-json /nonexistent/dir/trace.json)
  if(name STREQUAL "lesson02")
    expect_one_line_and_exit_2("--connections 0" --connections 0)
    expect_one_line_and_exit_2("--connections abc" --connections abc)
    expect_one_line_and_exit_2("--connections 20000" --connections 20000)
    # The open-files limit too low for the connections asked for: one line, before any work.
    execute_process(COMMAND sh -c "ulimit -n 64 && ulimit -Hn 64 && exec \"$0\" --connections 1000" ${LESSON}
                    INPUT_FILE /dev/null OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
    string(STRIP "${err}" stripped)
    string(FIND "${stripped}" "\n" newline)
    if(NOT rc STREQUAL "2" OR NOT newline EQUAL -1 OR NOT stripped MATCHES "^lesson02: .*--connections 1000 needs 1032 open files.*allows 64")
      message(FATAL_ERROR "lesson02 with ulimit -Hn 64: exit ${rc}, expected 2 and one line naming the limit; stderr:\n${err}")
    endif()
  endif()

elseif(MODE STREQUAL "no-color")
  find_program(SCRIPT script)
  if(NOT SCRIPT)
    message(FATAL_ERROR "no-color: needs `script` (util-linux / bsdutils) for a pseudo-terminal")
  endif()
  # `script` runs a command on a pseudo-terminal; util-linux and BSD (macOS) spell it apart.
  if(CMAKE_HOST_APPLE)
    set(on_tty ${SCRIPT} -q /dev/null sh -c)
  else()
    set(on_tty ${SCRIPT} -qe /dev/null -c)
  endif()
  # On a terminal, colour is on: this proves the check below can fail.
  execute_process(COMMAND ${on_tty} "env -u NO_COLOR ${LESSON} --virtual-time --only 1 ${small_text}"
                  INPUT_FILE /dev/null OUTPUT_VARIABLE tty_out RESULT_VARIABLE rc TIMEOUT 120)
  string(FIND "${tty_out}" "${ESC}[" esc)
  if(NOT rc STREQUAL "0" OR esc EQUAL -1)
    message(FATAL_ERROR "${name}: on a terminal the output should be coloured (exit ${rc})")
  endif()
  foreach(how "env NO_COLOR=1 ${LESSON} --virtual-time --only 1 ${small_text}" "env -u NO_COLOR ${LESSON} --no-color --virtual-time --only 1 ${small_text}")
    execute_process(COMMAND ${on_tty} "${how}"
                    INPUT_FILE /dev/null OUTPUT_VARIABLE tty_out RESULT_VARIABLE rc TIMEOUT 120)
    string(FIND "${tty_out}" "${ESC}" esc)
    if(NOT rc STREQUAL "0" OR NOT esc EQUAL -1)
      message(FATAL_ERROR "${name}: `${how}` on a terminal: exit ${rc}, escape code at ${esc}")
    endif()
  endforeach()

else()
  message(FATAL_ERROR "lesson_test.cmake: unknown MODE '${MODE}'")
endif()
