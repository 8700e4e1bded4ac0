# Driver of the ctest "models: converter round trip" (see CMakeLists.txt here): run with
#   cmake -DPYTHON=... -DSCRIPT=.../convert_checkpoint.py -DDIR=<scratch dir> -DTEST=<test_models> -P this file
file(REMOVE_RECURSE ${DIR})
execute_process(COMMAND ${PYTHON} ${SCRIPT} --self-test ${DIR} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "convert_checkpoint.py --self-test ${DIR} failed (exit ${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E env ANYCOST_CONVERTED_DIR=${DIR} ${TEST} "[converted]" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "test_models [converted] failed (exit ${rc})")
endif()
