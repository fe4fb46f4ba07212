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

// The dispatcher's handles of the seeded ops, looked up once.
const c10::TypedOperatorHandle<Uniform>& uniform_op();
const c10::TypedOperatorHandle<Normal>& normal_op();
const c10::TypedOperatorHandle<TruncNormal>& trunc_normal_op();
const c10::TypedOperatorHandle<Mixture>& mixture_op();
const c10::TypedOperatorHandle<Sparse>& sparse_op();

}  // namespace fastinit::ops
