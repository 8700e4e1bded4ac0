# The CUDA backend for programs that use anycost (installed next to anycostConfig.cmake).
#
#   anycost_enable_cuda_language()   enables CUDA (sm_90 unless CMAKE_CUDA_ARCHITECTURES is set) and finds the
#                                    CUDA toolkit. CMake can enable a language only at file scope: call this
#                                    (or enable_language(CUDA)) in the top-level CMakeLists.txt.
#   anycost_enable_cuda(<target>)    compiles anycost's CUDA units (include/anycost/backend/cuda/units/*.cu) into
#                                    <target> and switches its translation units to the CUDA configuration:
#                                    ANYCOST_WITH_CUDA for CXX and CUDA sources, CUDA_STANDARD 20, CUDA::cudart and
#                                    CUDA::cublas, --expt-relaxed-constexpr and --diag-suppress=20012,20013
#                                    (Eigen's warnings) for CUDA sources. When called at file scope it enables
#                                    the CUDA language itself if needed.
#
# The units are compiled once per build tree, into the object library anycost_cuda_units, whose objects every
# enabled target links: they depend only on anycost's headers, not on the target. Host sources stay g++; a fused
# expression written in them runs on the GPU through the generic program-interpreting kernel.
include_guard(GLOBAL)

# Where the headers (and so the units) are: ANYCOST_INCLUDE_DIR when the package config set it, else the source
# tree (cmake/../include) or the install tree (share/cmake/anycost/../../../include).
function(_anycost_cuda_units_dir out)
  foreach(candidate "${ANYCOST_INCLUDE_DIR}" "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/../include"
                    "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/../../../include")
    if(candidate AND EXISTS "${candidate}/anycost/backend/cuda/units")
      get_filename_component(dir "${candidate}/anycost/backend/cuda/units" ABSOLUTE)
      set(${out} "${dir}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  message(FATAL_ERROR "anycost: cannot find include/anycost/backend/cuda/units next to ${CMAKE_CURRENT_FUNCTION_LIST_DIR}; "
                      "set ANYCOST_INCLUDE_DIR to the directory that holds anycost/")
endfunction()

macro(anycost_enable_cuda_language)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
    set(CMAKE_CUDA_ARCHITECTURES 90)  # Hopper (H100/H200); override with -DCMAKE_CUDA_ARCHITECTURES=...
  endif()
  if(NOT DEFINED CMAKE_CUDA_HOST_COMPILER AND NOT DEFINED ENV{CUDAHOSTCXX} AND CMAKE_CXX_COMPILER)
    set(CMAKE_CUDA_HOST_COMPILER "${CMAKE_CXX_COMPILER}")  # nvcc's host pass uses the project's C++ compiler
  endif()
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED GLOBAL)
  # CMake before 3.26 does not know nvcc's -std=c++20 (CUDA_STANDARD 20 would be refused).
  if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION OR CMAKE_CUDA20_STANDARD_COMPILE_OPTION STREQUAL "")
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  endif()
endmacro()

# CUDA_STANDARD 20 where this CMake knows the flag, the flag itself otherwise.
function(_anycost_cuda_standard target)
  if(CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set_target_properties(${target} PROPERTIES CUDA_STANDARD 20 CUDA_STANDARD_REQUIRED ON CUDA_EXTENSIONS OFF)
  else()
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>)
  endif()
endfunction()

function(_anycost_cuda_interface out)
  if(TARGET anycost::cuda)
    set(${out} anycost::cuda PARENT_SCOPE)
    return()
  endif()
  # anycost included without its exported targets (a bare include of this file): build the equivalent here.
  if(NOT TARGET anycost_cuda_interface)
    add_library(anycost_cuda_interface INTERFACE)
    target_compile_definitions(anycost_cuda_interface INTERFACE ANYCOST_WITH_CUDA)
    target_compile_options(anycost_cuda_interface INTERFACE
      $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr --diag-suppress=20012,20013>)
    target_link_libraries(anycost_cuda_interface INTERFACE anycost::anycost CUDA::cudart CUDA::cublas)
  endif()
  set(${out} anycost_cuda_interface PARENT_SCOPE)
endfunction()

function(_anycost_enable_cuda_target target)
  if(NOT TARGET CUDA::cudart OR NOT TARGET CUDA::cublas)
    find_package(CUDAToolkit REQUIRED GLOBAL)
  endif()
  _anycost_cuda_interface(interface)
  if(NOT TARGET anycost_cuda_units)
    _anycost_cuda_units_dir(units_dir)
    file(GLOB units CONFIGURE_DEPENDS "${units_dir}/*.cu")
    add_library(anycost_cuda_units OBJECT ${units})
    target_link_libraries(anycost_cuda_units PRIVATE ${interface})
    set_target_properties(anycost_cuda_units PROPERTIES POSITION_INDEPENDENT_CODE ON)
    _anycost_cuda_standard(anycost_cuda_units)
    get_target_property(unit_archs anycost_cuda_units CUDA_ARCHITECTURES)
    if(NOT unit_archs)
      if(CMAKE_CUDA_ARCHITECTURES)
        set(unit_archs "${CMAKE_CUDA_ARCHITECTURES}")
      else()
        set(unit_archs 90)
      endif()
      set_target_properties(anycost_cuda_units PROPERTIES CUDA_ARCHITECTURES "${unit_archs}")
    endif()
  endif()
  target_sources(${target} PRIVATE $<TARGET_OBJECTS:anycost_cuda_units>)
  target_link_libraries(${target} PRIVATE ${interface})
  _anycost_cuda_standard(${target})
  # A target created before the CUDA language was enabled has no architectures (CMake refuses that).
  get_target_property(archs ${target} CUDA_ARCHITECTURES)
  if(NOT archs)
    get_target_property(unit_archs anycost_cuda_units CUDA_ARCHITECTURES)
    set_target_properties(${target} PROPERTIES CUDA_ARCHITECTURES "${unit_archs}")
  endif()
endfunction()

# A macro so that, called at file scope, it can enable the CUDA language (CMake allows that only there).
macro(anycost_enable_cuda target)
  get_property(_anycost_languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(NOT "CUDA" IN_LIST _anycost_languages)
    if(CMAKE_CURRENT_FUNCTION)
      message(FATAL_ERROR "anycost_enable_cuda(${target}): the CUDA language is not enabled and CMake cannot enable "
                          "it inside a function (${CMAKE_CURRENT_FUNCTION}); call anycost_enable_cuda_language() in "
                          "the top-level CMakeLists.txt first")
    endif()
    anycost_enable_cuda_language()
  endif()
  _anycost_enable_cuda_target(${target})
endmacro()
