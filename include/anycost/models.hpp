// Models: the Anycost generator, its channel table and sub-network configurations, MAC counting,
// checkpoints and channel sorting.
#pragma once

#include "anycost/models/channel_sort.hpp"
#include "anycost/models/channel_table.hpp"
#include "anycost/models/checkpoint.hpp"
#include "anycost/models/generator.hpp"
#include "anycost/models/macs.hpp"
