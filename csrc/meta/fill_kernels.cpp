// Meta kernels: meta tensors have no storage, so every fill is a no-op after
// the same argument checks as the real backends.
#include <torch/library.h>

#include "../checks.h"

namespace fastinit::meta {
namespace {

void uniform_(at::TensorList tensors, at::IntArrayRef seeds,
              at::ArrayRef<double> low, at::ArrayRef<double> high,
              at::OptionalIntArrayRef global_shapes, at::OptionalIntArrayRef offsets) {
  check_uniform_args(tensors, seeds, low, high);
  check_shard_lists("uniform_", tensors, global_shapes, offsets);
}

void normal_(at::TensorList tensors, at::IntArrayRef seeds,
             at::ArrayRef<double> mean, at::ArrayRef<double> std,
             at::OptionalIntArrayRef global_shapes, at::OptionalIntArrayRef offsets) {
  check_normal_args(tensors, seeds, mean, std);
  check_shard_lists("normal_", tensors, global_shapes, offsets);
}

void trunc_normal_(at::TensorList tensors, at::IntArrayRef seeds,
                   at::ArrayRef<double> mean, at::ArrayRef<double> std,
                   at::ArrayRef<double> a, at::ArrayRef<double> b,
                   at::OptionalIntArrayRef global_shapes, at::OptionalIntArrayRef offsets) {
  check_trunc_normal_args(tensors, seeds, mean, std, a, b);
  check_shard_lists("trunc_normal_", tensors, global_shapes, offsets);
}

void mixture_(at::TensorList tensors, at::IntArrayRef seeds, at::IntArrayRef counts,
              at::ArrayRef<double> probabilities, at::IntArrayRef kinds,
              at::ArrayRef<double> first, at::ArrayRef<double> second,
              at::ArrayRef<double> third, at::ArrayRef<double> fourth,
              at::OptionalIntArrayRef global_shapes, at::OptionalIntArrayRef offsets) {
  check_mixture_args(tensors, seeds, counts, probabilities, kinds, first, second, third, fourth);
  check_shard_lists("mixture_", tensors, global_shapes, offsets);
}

void orthogonal_from_(at::TensorList destinations, const at::Tensor& gaussians,
                      double /*gain*/) {
  check_orthogonal_args(destinations, gaussians);
}

void sparse_(const at::Tensor& tensor, int64_t /*seed*/, double sparsity,
             double std) {
  check_sparse_args(tensor, sparsity, std);
}

}  // namespace

TORCH_LIBRARY_IMPL(fastinit, Meta, m) {
  m.impl("uniform_", &uniform_);
  m.impl("normal_", &normal_);
  m.impl("trunc_normal_", &trunc_normal_);
  m.impl("sparse_", &sparse_);
  m.impl("mixture_", &mixture_);
  m.impl("orthogonal_from_", &orthogonal_from_);
}

}  // namespace fastinit::meta
