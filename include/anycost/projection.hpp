// Projection: real images into the generator's W+ space (L-BFGS or Adam, consistency-aware), and training
// the encoder that gives projection its first guess.
#pragma once

#include "anycost/projection/encoder_train.hpp"
#include "anycost/projection/project.hpp"
