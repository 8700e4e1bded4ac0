// Models: the Anycost generator and discriminators, the channel table, sub-network configurations and their
// architecture codes, MAC counting, evolve-config files (searched sub-networks per budget), checkpoints (and
// the state I/O they share), discriminator stage transfer and channel sorting; the projection encoder (a ResNet
// trunk to W+) and its files.
#pragma once

#include "anycost/models/arch_code.hpp"
#include "anycost/models/channel_sort.hpp"
#include "anycost/models/channel_table.hpp"
#include "anycost/models/checkpoint.hpp"
#include "anycost/models/discriminator.hpp"
#include "anycost/models/discriminator_checkpoint.hpp"
#include "anycost/models/encoder.hpp"
#include "anycost/models/encoder_checkpoint.hpp"
#include "anycost/models/evolve_config.hpp"
#include "anycost/models/generator.hpp"
#include "anycost/models/macs.hpp"
#include "anycost/models/stage_transfer.hpp"
#include "anycost/models/state_io.hpp"
