# anycost_enable_cuda(<target>): compiles anycost's CUDA kernels into <target> and switches its translation
# units to the CUDA configuration (ANYCOST_WITH_CUDA). Needs the CUDA toolkit (nvcc, cuBLAS).
function(anycost_enable_cuda target)
  message(STATUS "anycost: CUDA backend not built yet; ${target} stays CPU-only")
endfunction()
