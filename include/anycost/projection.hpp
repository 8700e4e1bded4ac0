// Projection: real images into the generator's W+ space (L-BFGS or Adam, consistency-aware).
#pragma once

#include "anycost/projection/project.hpp"
