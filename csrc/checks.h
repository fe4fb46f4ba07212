// Argument checks shared by every backend of the fastinit ops. Each runs
// before any write, so bad input leaves every tensor untouched.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/OptionalArrayRef.h>

#include <array>
#include <vector>

#include "fastinit/layout.h"

namespace fastinit {

// The dtypes fastinit fills, one list for every backend (the CPU kernel
// table, the CUDA launches, the Meta checks) and for Python
// (fastinit._C.FILLED_DTYPES). torch counts the float8 and float4 types as
// floating too; fastinit fills none of them.
inline constexpr std::array<at::ScalarType, 4> kFilledDtypes = {at::kFloat, at::kDouble, at::kHalf,
                                                                at::kBFloat16};

// NotImplementedError naming `function` (a public fastinit function, or an
// op as "fastinit::<op>") unless `tensor`'s dtype is one of kFilledDtypes:
// the one check of the dtype, for the ops and the Python functions.
void check_floating(const char* function, const at::Tensor& tensor);

// A destination: floating point (not complex), no overlapping elements.
void check_destination(const char* op, const at::Tensor& tensor);

void check_uniform_args(at::TensorList tensors, at::IntArrayRef seeds,
                        at::ArrayRef<double> low, at::ArrayRef<double> high);

void check_normal_args(at::TensorList tensors, at::IntArrayRef seeds,
                       at::ArrayRef<double> mean, at::ArrayRef<double> std);

void check_trunc_normal_args(at::TensorList tensors, at::IntArrayRef seeds,
                             at::ArrayRef<double> mean,
                             at::ArrayRef<double> std, at::ArrayRef<double> a,
                             at::ArrayRef<double> b);

void check_mixture_args(at::TensorList tensors, at::IntArrayRef seeds,
                        at::IntArrayRef counts, at::ArrayRef<double> probabilities,
                        at::IntArrayRef kinds, at::ArrayRef<double> parameters);

void check_orthogonal_args(at::TensorList destinations, const at::Tensor& gaussians);

void check_sparse_args(const at::Tensor& tensor, double sparsity, double std);

// Checks optional shard lists (see shard_windows) without concrete sizes.
void check_shard_lists(const char* op, at::TensorList tensors,
                       at::OptionalIntArrayRef global_shapes, at::OptionalIntArrayRef offsets);

// Where each of `tensors` lies in its global tensor (Note [shard windows]):
// tensor i is the block at `offsets` of a `global_shapes` tensor, the two
// lists holding tensor.dim() numbers per tensor, in order. Without them
// every tensor is whole. Checks the lists and that each block fits.
std::vector<ShardWindow> shard_windows(const char* op, at::TensorList tensors,
                                       at::OptionalIntArrayRef global_shapes,
                                       at::OptionalIntArrayRef offsets);

}  // namespace fastinit
