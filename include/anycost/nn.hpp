// Layers of the Anycost generator (and the parts the discriminator reuses): equalised-lr linear layers,
// modulated convolutions, StyledConv, ToRGB, noise, blur, the constant input and the mapping network; and
// the discriminator's layers: EqualConv2d, ConvLayer, ResBlock, AdaptiveModulate, minibatch stddev; the encoder's
// plain layers: Conv2d, BatchNorm2d, the ResNet Bottleneck.
#pragma once

#include "anycost/nn/adaptive_modulate.hpp"
#include "anycost/nn/batch_norm.hpp"
#include "anycost/nn/blur.hpp"
#include "anycost/nn/bottleneck.hpp"
#include "anycost/nn/conv_layer.hpp"
#include "anycost/nn/constant_input.hpp"
#include "anycost/nn/conv2d.hpp"
#include "anycost/nn/equal_conv2d.hpp"
#include "anycost/nn/equal_linear.hpp"
#include "anycost/nn/mapping.hpp"
#include "anycost/nn/minibatch_stddev.hpp"
#include "anycost/nn/modulated_conv2d.hpp"
#include "anycost/nn/module.hpp"
#include "anycost/nn/noise_injection.hpp"
#include "anycost/nn/res_block.hpp"
#include "anycost/nn/styled_conv.hpp"
#include "anycost/nn/subnet.hpp"
#include "anycost/nn/to_rgb.hpp"
