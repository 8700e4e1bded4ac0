// Losses: the adversarial losses and the R1 penalty of Anycost GAN training.
#pragma once

#include "anycost/losses/gan.hpp"
#include "anycost/losses/r1.hpp"
