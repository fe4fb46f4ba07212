// The C++ signature of every fastinit op, written once. The schemas are in
// ops.cpp; the backends register kernels of these types (the kernels every
// backend shares are in backend_kernels.h), and the composite ops and the
// Python bindings call the ops through the handles below.
#pragma once

#include <optional>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/OptionalArrayRef.h>

namespace fastinit::ops {

using Numbers = at::ArrayRef<double>;
using Windows = at::OptionalIntArrayRef;  // Note [shard windows] in fastinit/layout.h

// The ops that take one seed per tensor.
using Uniform = void(at::TensorList tensors, at::IntArrayRef seeds, Numbers low, Numbers high,
                     Windows global_shapes, Windows offsets);
using Normal = void(at::TensorList tensors, at::IntArrayRef seeds, Numbers mean, Numbers std,
                    Windows global_shapes, Windows offsets);
using TruncNormal = void(at::TensorList tensors, at::IntArrayRef seeds, Numbers mean,
                         Numbers std, Numbers a, Numbers b, Windows global_shapes,
                         Windows offsets);
using Mixture = void(at::TensorList tensors, at::IntArrayRef seeds, at::IntArrayRef counts,
                     Numbers probabilities, at::IntArrayRef kinds, Numbers parameters,
                     Windows global_shapes, Windows offsets);
using Sparse = void(const at::Tensor& tensor, int64_t seed, double sparsity, double std);
using OrthogonalFrom = void(at::TensorList destinations, const at::Tensor& gaussians,
                            double gain);

// The same fills drawing their seeds from a generator when they run.
using Generator = std::optional<at::Generator>;
using UniformFromGenerator = void(at::TensorList tensors, Numbers low, Numbers high,
                                  Generator generator);
using NormalFromGenerator = void(at::TensorList tensors, Numbers mean, Numbers std,
                                 Generator generator);
using TruncNormalFromGenerator = void(at::TensorList tensors, Numbers mean, Numbers std,
                                      Numbers a, Numbers b, Generator generator);
using MixtureFromGenerator = void(at::TensorList tensors, at::IntArrayRef counts,
                                  Numbers probabilities, at::IntArrayRef kinds,
                                  Numbers parameters, Generator generator);
using SparseFromGenerator = void(const at::Tensor& tensor, double sparsity, double std,
                                 Generator generator);

// Note [the op registry]
// ~~~~~~~~~~~~~~~~~~~~~~
// Every op, written once as X(name, signature above, schema arguments).
// ops.cpp defines each schema from these lists, and
// inplace_or_view/version_counters.cpp gives every op of the first list
// the kernel that bumps the version counters of the tensors it writes, so
// an op added here gets both from the same line (its signature type must
// exist above for either to compile). The ops of the second list draw
// their seeds when they run and write through the seeded ops (which bump
// the versions).
//
// The seeded ops: the random fills take optional `global_shapes` and
// `offsets`, tensor i then being the block at those offsets of a larger
// tensor (Note [shard windows] in fastinit/layout.h); each list holds
// tensor.dim() numbers per tensor, in the tensors' order. orthogonal_from_
// makes destination i (rows x cols, trailing dims flattened) gain times a
// Haar-distributed orthogonal matrix built from the gaussian workspace
// gaussians[i], (min(rows, cols), max(rows, cols)), which it overwrites
// (Note [orthogonal from reflectors]; the workspace may be the
// destination's own memory when that is contiguous, rows <= cols). A
// mixture's tensor i has counts[i] components, listed in order across
// tensors: probability, kind (MixtureParams::Kind: 0 constant, 1 uniform,
// 2 normal, 3 truncated normal) and four parameters per component, (value,
// -, -, -), (a, b, -, -), (mean, std, -, -) or (mean, std, a, b).
#define FASTINIT_SEEDED_OPS(X)                                                                   \
  X(uniform_, Uniform,                                                                           \
    "(Tensor(a!)[] tensors, int[] seeds, float[] low, float[] high, int[]? global_shapes=None, " \
    "int[]? offsets=None) -> ()")                                                                \
  X(normal_, Normal,                                                                             \
    "(Tensor(a!)[] tensors, int[] seeds, float[] mean, float[] std, int[]? global_shapes=None, " \
    "int[]? offsets=None) -> ()")                                                                \
  X(trunc_normal_, TruncNormal,                                                                  \
    "(Tensor(a!)[] tensors, int[] seeds, float[] mean, float[] std, float[] a, float[] b, "      \
    "int[]? global_shapes=None, int[]? offsets=None) -> ()")                                     \
  X(sparse_, Sparse, "(Tensor(a!) tensor, int seed, float sparsity, float std) -> ()")           \
  X(orthogonal_from_, OrthogonalFrom,                                                            \
    "(Tensor(a!)[] destinations, Tensor(b!) gaussians, float gain) -> ()")                       \
  X(mixture_, Mixture,                                                                           \
    "(Tensor(a!)[] tensors, int[] seeds, int[] counts, float[] probabilities, int[] kinds, "     \
    "float[] parameters, int[]? global_shapes=None, int[]? offsets=None) -> ()")

// The same fills drawing their own seeds, one per tensor in order, from
// `generator` (default: torch's default CPU generator) when they run: what
// the Python functions call under torch.compile, where drawing a seed must
// happen at run time, not once at trace time. Meta tensors draw nothing.
#define FASTINIT_DRAWING_OPS(X)                                                                  \
  X(uniform_from_generator_, UniformFromGenerator,                                               \
    "(Tensor(a!)[] tensors, float[] low, float[] high, Generator? generator=None) -> ()")        \
  X(normal_from_generator_, NormalFromGenerator,                                                 \
    "(Tensor(a!)[] tensors, float[] mean, float[] std, Generator? generator=None) -> ()")        \
  X(trunc_normal_from_generator_, TruncNormalFromGenerator,                                      \
    "(Tensor(a!)[] tensors, float[] mean, float[] std, float[] a, float[] b, "                   \
    "Generator? generator=None) -> ()")                                                          \
  X(mixture_from_generator_, MixtureFromGenerator,                                               \
    "(Tensor(a!)[] tensors, int[] counts, float[] probabilities, int[] kinds, "                  \
    "float[] parameters, Generator? generator=None) -> ()")                                      \
  X(sparse_from_generator_, SparseFromGenerator,                                                 \
    "(Tensor(a!) tensor, float sparsity, float std, Generator? generator=None) -> ()")

// The dispatcher's handles of the seeded ops, looked up once.
const c10::TypedOperatorHandle<Uniform>& uniform_op();
const c10::TypedOperatorHandle<Normal>& normal_op();
const c10::TypedOperatorHandle<TruncNormal>& trunc_normal_op();
const c10::TypedOperatorHandle<Mixture>& mixture_op();
const c10::TypedOperatorHandle<Sparse>& sparse_op();

}  // namespace fastinit::ops
