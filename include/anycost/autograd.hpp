// Reverse-mode autodiff over tensors: Var, the graph, backward() and grad().
#pragma once

#include "anycost/autograd/broadcast.hpp"
#include "anycost/autograd/engine.hpp"
#include "anycost/autograd/fused_node.hpp"
#include "anycost/autograd/grad_mode.hpp"
#include "anycost/autograd/node.hpp"
#include "anycost/autograd/var.hpp"
