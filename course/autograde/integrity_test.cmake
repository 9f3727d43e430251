# integrity_test.cmake — the integrity scanner's test (CTest autograde/integrity): every
# construct in the fixtures is flagged on its line, and the reference solutions, which are
# legitimate answers, give no hit at all.
execute_process(COMMAND ${PYTHON} ${SCANNER} --self-test ${FIXTURES} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the integrity scanner missed or invented a hit in its fixtures (above)")
endif()
file(GLOB CLEAN ${SOLUTIONS}/[0-9][0-9]_*.cpp)
foreach(file ${CLEAN})
  execute_process(COMMAND ${PYTHON} ${SCANNER} ${file} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT out STREQUAL "")
    message(FATAL_ERROR "a reference solution is flagged (a false positive):\n${out}${err}")
  endif()
endforeach()
list(LENGTH CLEAN n)
message(STATUS "no hit in ${n} reference solutions")
