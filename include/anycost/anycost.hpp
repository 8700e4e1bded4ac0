// anycost: Anycost GANs in header-only C++20. Include this for everything.
#pragma once

#include "anycost/config.hpp"
#include "anycost/core.hpp"
#include "anycost/autograd.hpp"
#include "anycost/ops.hpp"
#include "anycost/io.hpp"
#include "anycost/nn.hpp"
#include "anycost/models.hpp"
#include "anycost/losses.hpp"
#include "anycost/optim.hpp"
#include "anycost/train.hpp"
#include "anycost/projection.hpp"
#include "anycost/editing.hpp"
#include "anycost/search.hpp"
#include "anycost/eval.hpp"
