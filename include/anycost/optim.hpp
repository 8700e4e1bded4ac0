// Optimisers (Adam, SGD) and the exponential moving average of parameters, over named leaf parameters.
#pragma once

#include "anycost/optim/adam.hpp"
#include "anycost/optim/ema.hpp"
#include "anycost/optim/lbfgs.hpp"
#include "anycost/optim/optimizer.hpp"
#include "anycost/optim/parameters.hpp"
#include "anycost/optim/sgd.hpp"
