// Instantiation unit: Philox fills (normal and uniform, float and double).
#include "anycost/backend/cuda/kernels/random.cuh"
