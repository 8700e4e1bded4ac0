// Instantiation unit: conv2d, conv_transpose2d and the weight gradient (im2col / col2im kernels + cuBLAS).
#include "anycost/backend/cuda/kernels/conv2d.cuh"
