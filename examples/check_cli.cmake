# Runs a program and checks both its exit status and its output (stdout and stderr together), which a plain
# ctest PASS_REGULAR_EXPRESSION cannot do (it ignores the exit status):
#
#   cmake -DEXIT=<status> -DMATCH=<regex> [options] -P check_cli.cmake -- <program> [args...]
#
# Options for the hostile-input tests (tests/hostile), each a ;-list of paths:
#   KEEP=<files>      each is written with known bytes before the run and must hold them, byte for byte,
#                     afterwards, with no temporary or staged file (.<name>.tmp.*, .<name>.staged.*) beside it
#   CHANGED=<files>   written with the same bytes before the run and must hold other bytes afterwards
#   LINKS=<link>=<target>;...  symbolic links made before the run, which must still be links afterwards
#   READONLY_DIR=<dir>  made read-only (mode 0555) before the run and writable again after it; run as root,
#                     the program runs as user nobody (setpriv), for whom the mode is not waived
#   FILE_LIMIT_BLOCKS=<n>  the program runs with a file size limit of n 512-byte blocks (ulimit -f) and
#                     SIGXFSZ ignored, so a write past it fails with EFBIG, as a full disk fails with ENOSPC
cmake_minimum_required(VERSION 3.24)
set(command "")
set(after_dashes FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  if(after_dashes)
    list(APPEND command "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(after_dashes TRUE)
  endif()
endforeach()
if(NOT command OR NOT DEFINED EXIT OR NOT DEFINED MATCH)
  message(FATAL_ERROR "usage: cmake -DEXIT=<status> -DMATCH=<regex> -P check_cli.cmake -- <program> [args...]")
endif()

set(seed_text "pre-existing file: a failed command must leave it alone\n")
string(SHA256 seed_hash "${seed_text}")
foreach(file IN LISTS KEEP CHANGED)
  get_filename_component(dir "${file}" DIRECTORY)
  if(EXISTS "${dir}")
    file(CHMOD "${dir}" DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
         WORLD_READ WORLD_EXECUTE)  # a previous run may have left it read-only
  endif()
  file(REMOVE "${file}")
  file(WRITE "${file}" "${seed_text}")
endforeach()
foreach(pair IN LISTS LINKS)
  string(REGEX MATCH "^([^=]+)=(.+)$" ok "${pair}")
  file(REMOVE "${CMAKE_MATCH_1}")
  file(CREATE_LINK "${CMAKE_MATCH_2}" "${CMAKE_MATCH_1}" SYMBOLIC)
endforeach()

if(DEFINED READONLY_DIR)
  file(MAKE_DIRECTORY "${READONLY_DIR}")
  file(CHMOD "${READONLY_DIR}" DIRECTORY_PERMISSIONS OWNER_READ OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
       WORLD_READ WORLD_EXECUTE)
  execute_process(COMMAND id -u OUTPUT_VARIABLE uid OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(uid STREQUAL "0")
    find_program(setpriv setpriv)
    if(NOT setpriv)
      message("anycost-test-skipped: running as root without setpriv, so a read-only folder is writable")
      return()
    endif()
    set(command ${setpriv} --reuid=65534 --regid=65534 --clear-groups ${command})
  endif()
endif()
if(DEFINED FILE_LIMIT_BLOCKS)
  # The shell's `trap '' XFSZ` is inherited through exec: an ignored signal stays ignored. (No ';' in the
  # script: in a CMake list it would split the argument.)
  set(command /bin/sh -c "trap '' XFSZ && ulimit -f ${FILE_LIMIT_BLOCKS} && exec \"$@\"" sh ${command})
endif()

execute_process(COMMAND ${command} RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output)
message("${output}")
if(DEFINED READONLY_DIR)
  file(CHMOD "${READONLY_DIR}" DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
       GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endif()
if(NOT status STREQUAL EXIT)
  message(FATAL_ERROR "exit status ${status}, expected ${EXIT}")
endif()
if(NOT output MATCHES "${MATCH}")
  message(FATAL_ERROR "the output does not match: ${MATCH}")
endif()

foreach(file IN LISTS KEEP)
  file(SHA256 "${file}" now)
  if(NOT now STREQUAL seed_hash)
    message(FATAL_ERROR "'${file}' changed: the failed command wrote it")
  endif()
endforeach()
foreach(file IN LISTS KEEP CHANGED)
  get_filename_component(dir "${file}" DIRECTORY)
  get_filename_component(name "${file}" NAME)
  file(GLOB left "${dir}/.${name}.tmp.*" "${dir}/.${name}.staged.*")
  if(left)
    message(FATAL_ERROR "left behind beside '${file}': ${left}")
  endif()
endforeach()
foreach(file IN LISTS CHANGED)
  file(SHA256 "${file}" now)
  if(now STREQUAL seed_hash)
    message(FATAL_ERROR "'${file}' was not written")
  endif()
endforeach()
foreach(pair IN LISTS LINKS)
  string(REGEX MATCH "^([^=]+)=(.+)$" ok "${pair}")
  if(NOT IS_SYMLINK "${CMAKE_MATCH_1}")
    message(FATAL_ERROR "'${CMAKE_MATCH_1}' is no longer a symbolic link")
  endif()
endforeach()
