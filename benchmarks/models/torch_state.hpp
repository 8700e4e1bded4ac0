// copy_state_to_torch: an anycost module's state (parameters and buffers, under their state_dict names) copied
// into LibTorch tensors, the parameters requiring grad: how the LibTorch references of the benchmarks get the
// same weights as the module they are compared with.
#pragma once

#if defined(ANYCOST_BENCH_WITH_TORCH)

#include <torch/torch.h>

#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include <anycost/anycost.hpp>

namespace anycost::bench {

// Fills by_name (every tensor) and params (the parameters, in visit order).
template <class Module>
void copy_state_to_torch(const Module& m, std::map<std::string, torch::Tensor>& by_name,
                         std::vector<torch::Tensor>& params) {
  m.visit_state([&](const std::string& name, const auto& x) {
    constexpr bool is_param = std::is_same_v<std::remove_cvref_t<decltype(x)>, Var>;
    const Tensor t = [&] {
      if constexpr (is_param)
        return x.data();
      else
        return x;
    }();
    const Tensor c = t.to(Device::cpu()).to(DType::float32).contiguous();
    std::vector<std::int64_t> shape(c.shape().begin(), c.shape().end());
    torch::Tensor tt = torch::from_blob(const_cast<float*>(c.data<float>()), shape, torch::kFloat32).clone();
    if (is_param) params.push_back(tt.requires_grad_(true));
    by_name[name] = tt;
  });
}

}  // namespace anycost::bench

#endif  // ANYCOST_BENCH_WITH_TORCH
