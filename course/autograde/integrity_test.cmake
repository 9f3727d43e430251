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

# The compiled objects: the fixtures' symbols, and none flagged in the reference solutions'
# objects (as the graders built them).
execute_process(COMMAND ${PYTHON} ${SCANNER} --object-test ${FIXTURES}/objects ${FIXTURE_OBJECTS}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message(STATUS "${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the object check missed or invented a hit in its fixtures (above)")
endif()
file(GLOB_RECURSE CLEAN_OBJECTS ${GRADERS}/CMakeFiles/grade_solution_*.dir/*.o)
list(FILTER CLEAN_OBJECTS INCLUDE REGEX "/solutions/[0-9][0-9]_[a-z0-9_]+\\.cpp\\.o(bj)?$")
foreach(obj ${CLEAN_OBJECTS})
  execute_process(COMMAND ${PYTHON} ${SCANNER} --object ${obj} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT out STREQUAL "")
    message(FATAL_ERROR "a reference solution's object is flagged (a false positive):\n${out}${err}")
  endif()
endforeach()
list(LENGTH CLEAN_OBJECTS n)
if(n EQUAL 0)
  message(FATAL_ERROR "no reference solution's object under ${GRADERS} (build everything first)")
endif()
message(STATUS "no hit in ${n} reference solutions' objects")
