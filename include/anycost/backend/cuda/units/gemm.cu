// Instantiation unit: GEMM on cuBLAS.
#include "anycost/backend/cuda/kernels/gemm.cuh"
