# "Compiles" exercise NUMBER for course_test.sh (see CMakeLists.txt here): the grader put in
# place at OUT depends on the markers in the stand-in exercise file, never on the student's
# code (course_test.sh writes every exercise file the stand-in build sees).
#   - an `#error` line: it does not compile; the real compiler says why (-fsyntax-only)
#   - `// course_test: stub`: a grader that reports every part not started
#   - `// course_test: failing`: a grader that reports part 1 failing
#   - `// course_test: done`: a grader that reports every part passed
#   - exactly the reference solution: the real build's grader of the solution
#   - `// course_test: warning`: also prints a compiler's warning about the file, as GCC does
#   - `// course_test: slow`: the "compile" takes 2 s after reading the file, and says so by
#     writing OUT.compiling as it starts (a save during a build, reproduced on cue)
# Anything else is an error: the test must say what it means.
file(READ ${EXERCISE} code)
set(solution "")
if(EXISTS ${SOLUTION})
  file(READ ${SOLUTION} solution)
endif()
file(REMOVE ${OUT}.compiling)
if(code MATCHES "\n// course_test: slow")
  file(TOUCH ${OUT}.compiling)
  execute_process(COMMAND ${CMAKE_COMMAND} -E sleep 2)
endif()
if(code MATCHES "\n// course_test: warning")
  execute_process(COMMAND ${CMAKE_COMMAND} -E echo
    "${EXERCISE}:3:5: warning: ignoring returned value of type 'coop::Task<void>', declared with attribute 'nodiscard' [-Wunused-result]")
  execute_process(COMMAND ${CMAKE_COMMAND} -E echo "    3 |     fetch(a);")
  execute_process(COMMAND ${CMAKE_COMMAND} -E echo "      |     ^~~~~~~~")
endif()
if(code MATCHES "\n#error")
  get_filename_component(dir ${EXERCISE} DIRECTORY)
  execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -I${dir} -I${INCLUDE} ${EXERCISE} RESULT_VARIABLE failed)
  if(NOT failed)
    message(FATAL_ERROR "the compiler accepted an #error")
  endif()
  message(FATAL_ERROR "the exercise does not compile")
elseif(NOT solution STREQUAL "" AND code STREQUAL solution)
  file(REAL_PATH ${SOLUTION_GRADER} real_grader)
  file(COPY_FILE ${real_grader} ${OUT})
elseif(code MATCHES "\n// course_test: (stub|failing|done)")
  set(state ${CMAKE_MATCH_1})
  # The parts' names come from the solution's grader (--hints), so that the stand-in's
  # reports and the hints coop_grade gives agree.
  file(WRITE ${OUT} "#!/bin/sh\nFAKE_LIST='${LIST}' exec '${FAKE_GRADER}' ${state} ${NUMBER} ${TOPIC} '${SOLUTION_GRADER}' \"$@\"\n")
else()
  message(FATAL_ERROR "course_test: ${EXERCISE} has no marker the stand-in build knows")
endif()
file(TOUCH ${OUT})
file(CHMOD ${OUT} PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
file(REMOVE ${OUT}.compiling)
