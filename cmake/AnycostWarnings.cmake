# Strict warnings on our own code only (dependencies are SYSTEM includes through their imported targets).
function(anycost_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Werror -Wno-error=maybe-uninitialized>)
endfunction()
