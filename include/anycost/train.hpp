// Training: the run config, the optimisation steps of the three Anycost stages, the resumable training state
// and the trainer that drives them.
#pragma once

#include "anycost/train/communicator.hpp"
#include "anycost/train/config.hpp"
#include "anycost/train/gradient_averager.hpp"
#include "anycost/train/progress.hpp"
#include "anycost/train/state.hpp"
#include "anycost/train/steps.hpp"
#include "anycost/train/trainer.hpp"
