// anycost/eval: measuring a generator's quality (the `anycost eval` and `anycost train-classifier` commands).
//
//   labels.hpp            per-image multi-label targets from a dataset's labels.json
//   classifier.hpp        the small CNN whose features stand in for Inception's in a Fréchet distance
//   classifier_train.hpp  training it (Adam, multi-label logistic loss), held-out accuracy vs majority
//   frechet.hpp           feature statistics and the Fréchet distance
//   consistency.hpp       PSNR / LPIPS of a sub-generator against the full generator
//   attribute_consistency.hpp  how often a sub-generator's image keeps the full image's predicted attributes
//   evaluate.hpp          the report over sub-network configurations: FD, PSNR, LPIPS, attribute
//                         agreement, latency, MACs
//
// The namespace is anycost::evaluation (anycost::eval is the function that evaluates an expression).
#pragma once

#include "anycost/eval/attribute_consistency.hpp"
#include "anycost/eval/classifier.hpp"
#include "anycost/eval/classifier_train.hpp"
#include "anycost/eval/consistency.hpp"
#include "anycost/eval/evaluate.hpp"
#include "anycost/eval/frechet.hpp"
#include "anycost/eval/labels.hpp"
