// Instantiation unit: keepdim sums.
#include "anycost/backend/cuda/kernels/reduce.cuh"
