// Instantiation unit: upfirdn2d (float and double).
#include "anycost/backend/cuda/kernels/upfirdn2d.cuh"
