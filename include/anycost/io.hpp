// File formats: safetensors checkpoints, PNG/JPEG images, image grids, atomic writes; training data: PIL-style
// resizing, image folders and the prefetching batch loader (no autograd).
#pragma once

#include "anycost/io/atomic_write.hpp"
#include "anycost/io/batch_loader.hpp"
#include "anycost/io/bounded_json.hpp"
#include "anycost/io/half.hpp"
#include "anycost/io/image.hpp"
#include "anycost/io/image_folder.hpp"
#include "anycost/io/image_grid.hpp"
#include "anycost/io/mapped_file.hpp"
#include "anycost/io/resize_image.hpp"
#include "anycost/io/safetensors.hpp"
