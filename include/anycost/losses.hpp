// Training losses: LPIPS, the consistency (distillation) loss, the path-length regulariser.
#pragma once

#include "anycost/losses/consistency.hpp"
#include "anycost/losses/lpips.hpp"
#include "anycost/losses/lpips_net.hpp"
#include "anycost/losses/path_length.hpp"
