// Instantiation unit: the fused elementwise program interpreter (float/double x int32/int64 indexing).
#include "anycost/backend/cuda/kernels/elementwise.cuh"
