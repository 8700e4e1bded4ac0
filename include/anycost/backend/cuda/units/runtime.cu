// Instantiation unit: memory hooks, transfers, strided copies and the anycost::cuda run-time API.
#include "anycost/backend/cuda/kernels/runtime.cuh"
