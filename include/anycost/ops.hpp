// Differentiable operations on Vars.
#pragma once

#include "anycost/ops/conv2d.hpp"
#include "anycost/ops/elementwise.hpp"
#include "anycost/ops/gradcheck.hpp"
#include "anycost/ops/linalg.hpp"
#include "anycost/ops/pool.hpp"
#include "anycost/ops/random.hpp"
#include "anycost/ops/reduce.hpp"
#include "anycost/ops/resize.hpp"
#include "anycost/ops/upfirdn2d.hpp"
#include "anycost/ops/view.hpp"
