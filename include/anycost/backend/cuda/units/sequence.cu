// Instantiation unit: the Thrust-based fill and reverse copy.
#include "anycost/backend/cuda/kernels/sequence.cuh"
