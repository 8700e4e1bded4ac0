# anycost_cli_test(<name> <exit status> <regex> <args...>): the ctest "examples: anycost <name>", which runs
# `anycost <args...>` through examples/check_cli.cmake (exit status and output checked together; label
# examples). Shared by the CLI checks in examples/ and tests/<folder>/.
include_guard(GLOBAL)
function(anycost_cli_test name status regex)
  add_test(NAME "examples: anycost ${name}"
           COMMAND ${CMAKE_COMMAND} -DEXIT=${status} "-DMATCH=${regex}"
                   -P ${PROJECT_SOURCE_DIR}/examples/check_cli.cmake -- $<TARGET_FILE:example_anycost> ${ARGN})
  set_tests_properties("examples: anycost ${name}" PROPERTIES LABELS examples TIMEOUT 300)
endfunction()
