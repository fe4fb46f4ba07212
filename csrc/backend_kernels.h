// The kernels of the seeded ops, written once for every backend: each checks
// its arguments (op_arguments.h), then hands the work to the backend's
//   Backend::kWrites                       false for Meta: checks only
//   Backend::fill(tensors, windows, args)  a random fill (args: *Args)
//   Backend::zero(tensor, pattern)         sparse_'s zeros, after its values
//   Backend::orthogonal_from(destinations, gaussians, gain)
// and each backend registers them for its dispatch key with
// BackendKernels<Backend>::register_to(m).
#pragma once

#include <type_traits>

#include <torch/library.h>

#include "checks.h"
#include "op_arguments.h"
#include "ops.h"

namespace fastinit {

template <typename Backend>
struct BackendKernels {
  static void uniform_(at::TensorList tensors, at::IntArrayRef seeds, ops::Numbers low,
                       ops::Numbers high, ops::Windows global_shapes, ops::Windows offsets) {
    fill(tensors, UniformArgs(tensors, seeds, low, high), global_shapes, offsets);
  }

  static void normal_(at::TensorList tensors, at::IntArrayRef seeds, ops::Numbers mean,
                      ops::Numbers std, ops::Windows global_shapes, ops::Windows offsets) {
    fill(tensors, NormalArgs(tensors, seeds, mean, std), global_shapes, offsets);
  }

  static void trunc_normal_(at::TensorList tensors, at::IntArrayRef seeds, ops::Numbers mean,
                            ops::Numbers std, ops::Numbers a, ops::Numbers b,
                            ops::Windows global_shapes, ops::Windows offsets) {
    fill(tensors, TruncNormalArgs(tensors, seeds, mean, std, a, b), global_shapes, offsets);
  }

  static void mixture_(at::TensorList tensors, at::IntArrayRef seeds, at::IntArrayRef counts,
                       ops::Numbers probabilities, at::IntArrayRef kinds,
                       ops::Numbers parameters, ops::Windows global_shapes,
                       ops::Windows offsets) {
    fill(tensors, MixtureArgs(tensors, seeds, counts, probabilities, kinds, parameters),
         global_shapes, offsets);
  }

  // Note [sparse_ zero pattern]: normal values, then the zeros.
  static void sparse_(const at::Tensor& tensor, int64_t seed, double sparsity, double std) {
    check_sparse_args(tensor, sparsity, std);
    if constexpr (Backend::kWrites) {
      const SparsePattern pattern(tensor, seed, sparsity);
      const double mean = 0.0;
      normal_(tensor, seed, ops::Numbers(mean), ops::Numbers(std), std::nullopt, std::nullopt);
      if (pattern.zeros() > 0 && pattern.cols() > 0) {
        Backend::zero(tensor, pattern);
      }
    }
  }

  static void orthogonal_from_(at::TensorList destinations, const at::Tensor& gaussians,
                               double gain) {
    check_orthogonal_args(destinations, gaussians);
    if constexpr (Backend::kWrites) {
      if (!destinations.empty()) {
        Backend::orthogonal_from(destinations, gaussians, gain);
      }
    }
  }

  static void register_to(torch::Library& m) {
    static_assert(std::is_same_v<decltype(uniform_), ops::Uniform>);
    static_assert(std::is_same_v<decltype(normal_), ops::Normal>);
    static_assert(std::is_same_v<decltype(trunc_normal_), ops::TruncNormal>);
    static_assert(std::is_same_v<decltype(mixture_), ops::Mixture>);
    static_assert(std::is_same_v<decltype(sparse_), ops::Sparse>);
    static_assert(std::is_same_v<decltype(orthogonal_from_), ops::OrthogonalFrom>);
    m.impl("uniform_", &uniform_);
    m.impl("normal_", &normal_);
    m.impl("trunc_normal_", &trunc_normal_);
    m.impl("mixture_", &mixture_);
    m.impl("sparse_", &sparse_);
    m.impl("orthogonal_from_", &orthogonal_from_);
  }

 private:
  template <typename Args>
  static void fill(at::TensorList tensors, const Args& args, ops::Windows global_shapes,
                   ops::Windows offsets) {
    if constexpr (Backend::kWrites) {
      Backend::fill(tensors, shard_windows(Args::kOp, tensors, global_shapes, offsets), args);
    } else {
      check_shard_lists(Args::kOp, tensors, global_shapes, offsets);
    }
  }
};

}  // namespace fastinit
