// Search: evolutionary search of flexible sub-generators under MACs and measured-latency budgets (the search
// space, generic regularised evolution with a score cache, the distance to the full generator, budgets, the
// per-layer latency table of the user's device, and the Pareto plot).
#pragma once

#include "anycost/search/budget.hpp"
#include "anycost/search/evolution.hpp"
#include "anycost/search/fitness.hpp"
#include "anycost/search/latency_table.hpp"
#include "anycost/search/pareto.hpp"
#include "anycost/search/space.hpp"
