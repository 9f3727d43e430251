# hint_test.cmake — `coop_grade hint N` starts from the check that failed in the last grading.
# A grader directory holds the wrong answer to exercise 03 as the student's grader
# (grade_exercise_03: fetch_or catches (...), fetch_all_limited ignores the limit) and the
# solution's grader; the other exercises have none (they count as not compiling). After
# `coop_grade progress`, the first hint for exercise 03 is the failed check's own, about part
# 3; the next ones are the part's stronger hint and its approach.
#
#   cmake -DGRADE=coop_grade -DWRONG=grade_wrong_03_gather_unlimited -DSOLUTION=grade_solution_03
#         -DWORK=DIR -P hint_test.cmake
foreach(v GRADE WRONG SOLUTION WORK)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "hint_test.cmake: -D${v}=... is required")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/bin ${WORK}/state)
file(CREATE_LINK ${WRONG} ${WORK}/bin/grade_exercise_03 SYMBOLIC)
file(CREATE_LINK ${SOLUTION} ${WORK}/bin/grade_solution_03 SYMBOLIC)

execute_process(COMMAND ${GRADE} progress ${WORK}/bin ${WORK}/state OUTPUT_VARIABLE table ERROR_VARIABLE table)
if(NOT table MATCHES "03 gather +FAILING +2/4  part 3 failed: the runtime warned")
  message(FATAL_ERROR "the progress table does not show exercise 03 failing in part 3:\n${table}")
endif()

function(expect_hint level label text)
  execute_process(COMMAND ${GRADE} hint ${WORK}/bin ${WORK}/state 3 OUTPUT_VARIABLE out ERROR_VARIABLE out
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "Exercise 03, part 3 · [^\n]* — hint ${level} of 3 \\(${label}\\):\n  ${text}")
    message(FATAL_ERROR "hint ${level}: expected '${label}: ${text}...', got (exit ${rc}):\n${out}")
  endif()
endfunction()
expect_hint(1 "about the check that failed" "A catch \\(\\.\\.\\.\\) around a co_await catches CancelledError too")
expect_hint(2 "a stronger hint" "Wrap each fetch in a small coroutine of your own")
expect_hint(3 "the approach" "Task<std::string> fetch_or")
file(REMOVE_RECURSE ${WORK})
