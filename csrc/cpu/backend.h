// The CPU backend of the kernels in backend_kernels.h: random fills in
// fill_kernels.cpp, sparse_'s zeros in sparse.cpp, orthogonal_from_ in
// orthogonal.cpp (the CUDA folder has the same three).
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include "../op_arguments.h"
#include "fastinit/layout.h"

namespace fastinit::cpu {

struct Backend {
  static constexpr bool kWrites = true;
  template <typename Args>
  static void fill(at::TensorList tensors, const std::vector<ShardWindow>& windows,
                   const Args& args);
  static void zero(const at::Tensor& tensor, const SparsePattern& pattern);
  static void orthogonal_from(at::TensorList destinations, const at::Tensor& gaussians,
                              double gain);
};

// Elements below which a fill stays on the calling thread.
constexpr int64_t kGrainElements = 32768;

}  // namespace fastinit::cpu
