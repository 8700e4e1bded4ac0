// Training losses: the adversarial losses, R1, the path-length regulariser, LPIPS and the consistency
// (distillation) loss of Anycost GAN training.
#pragma once

#include "anycost/losses/consistency.hpp"
#include "anycost/losses/gan.hpp"
#include "anycost/losses/lpips.hpp"
#include "anycost/losses/lpips_net.hpp"
#include "anycost/losses/path_length.hpp"
#include "anycost/losses/r1.hpp"
