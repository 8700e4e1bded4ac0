// Instantiation unit: max pooling, its scatter and gather (float and double).
#include "anycost/backend/cuda/kernels/pool.cuh"
