// Editing: attribute directions in W (a linear SVM over latents sorted by a predictor's scores) and their
// application to W+ latents; the undo/redo history of an interactive edit.
#pragma once

#include "anycost/editing/directions.hpp"
#include "anycost/editing/edit.hpp"
#include "anycost/editing/edit_history.hpp"
#include "anycost/editing/sample_directions.hpp"
#include "anycost/editing/svm.hpp"
