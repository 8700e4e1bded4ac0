// Tensors, devices, dtypes, errors, threading and random numbers (no autograd).
#pragma once

#include "anycost/core/device.hpp"
#include "anycost/core/dtype.hpp"
#include "anycost/core/error.hpp"
#include "anycost/core/parallel.hpp"
#include "anycost/core/rng.hpp"
#include "anycost/core/shape.hpp"
#include "anycost/core/tensor.hpp"
