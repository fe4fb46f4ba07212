#include "checks.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/MemoryOverlap.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <c10/util/Exception.h>

#include "fastinit/params.h"

namespace fastinit {
namespace {

void check_batch_sizes(const char* op, at::TensorList tensors,
                       at::IntArrayRef seeds,
                       std::initializer_list<size_t> parameter_sizes) {
  TORCH_CHECK(seeds.size() == tensors.size(), "fastinit::", op, ": got ",
              tensors.size(), " tensors but ", seeds.size(), " seeds");
  for (size_t size : parameter_sizes) {
    TORCH_CHECK(size == tensors.size(), "fastinit::", op, ": got ",
                tensors.size(), " tensors but ", size,
                " values of a per-tensor parameter");
  }
  for (const at::Tensor& tensor : tensors) {
    check_destination(op, tensor);
  }
}

// The largest finite value of a floating dtype.
double largest_finite(at::ScalarType dtype) {
  switch (dtype) {
    case at::kHalf: return static_cast<double>(std::numeric_limits<at::Half>::max());
    case at::kBFloat16: return static_cast<double>(std::numeric_limits<at::BFloat16>::max());
    case at::kFloat: return static_cast<double>(std::numeric_limits<float>::max());
    default: return std::numeric_limits<double>::max();
  }
}

}  // namespace

void check_floating(const char* function, const at::Tensor& tensor) {
  const at::ScalarType dtype = tensor.scalar_type();
  const bool filled = std::find(kFilledDtypes.begin(), kFilledDtypes.end(), dtype) != kFilledDtypes.end();
  TORCH_CHECK_NOT_IMPLEMENTED(filled, "fastinit::", function,
                              ": unsupported dtype torch.",
                              c10::getDtypeNames(tensor.scalar_type()).first,
                              "; expected float32, float64, float16 or bfloat16");
}

void check_destination(const char* op, const at::Tensor& tensor) {
  check_floating(op, tensor);
  at::assert_no_internal_overlap(tensor);
}

void check_uniform_args(at::TensorList tensors, at::IntArrayRef seeds,
                        at::ArrayRef<double> low, at::ArrayRef<double> high) {
  check_batch_sizes("uniform_", tensors, seeds, {low.size(), high.size()});
  for (size_t i = 0; i < tensors.size(); ++i) {
    // torch's own bounds checks for Tensor.uniform_ (NaN is out of bounds).
    const double max = largest_finite(tensors[i].scalar_type());
    TORCH_CHECK(low[i] >= -max && low[i] <= max, "fastinit::uniform_: from (a=", low[i],
                ") is out of bounds for ", tensors[i].scalar_type());
    TORCH_CHECK(high[i] >= -max && high[i] <= max, "fastinit::uniform_: to (b=", high[i],
                ") is out of bounds for ", tensors[i].scalar_type());
    TORCH_CHECK(low[i] <= high[i],
                "fastinit::uniform_ expects to return a [a, b) range, but "
                "found a=", low[i], " > b=", high[i]);
    TORCH_CHECK(high[i] - low[i] <= max, "fastinit::uniform_ expects b - a <= the largest ",
                tensors[i].scalar_type(), ", but found a=", low[i], " and b=", high[i]);
  }
}

void check_normal_args(at::TensorList tensors, at::IntArrayRef seeds,
                       at::ArrayRef<double> mean, at::ArrayRef<double> std) {
  check_batch_sizes("normal_", tensors, seeds, {mean.size(), std.size()});
  for (size_t i = 0; i < tensors.size(); ++i) {
    // torch's check for Tensor.normal_: an infinite std or a non-finite
    // mean give infinite or NaN values, as in torch.
    TORCH_CHECK(std[i] >= 0.0, "fastinit::normal_ expects std >= 0.0, but found std ", std[i]);
  }
}

void check_trunc_normal_args(at::TensorList tensors, at::IntArrayRef seeds,
                             at::ArrayRef<double> mean,
                             at::ArrayRef<double> std, at::ArrayRef<double> a,
                             at::ArrayRef<double> b) {
  check_batch_sizes("trunc_normal_", tensors, seeds,
                    {mean.size(), std.size(), a.size(), b.size()});
  for (size_t i = 0; i < tensors.size(); ++i) {
    TORCH_CHECK(std[i] > 0.0 && std::isfinite(std[i]),
                "fastinit::trunc_normal_ expects finite std > 0.0, but found "
                "std ", std[i]);
    TORCH_CHECK(std::isfinite(mean[i]),
                "fastinit::trunc_normal_ expects a finite mean, but found "
                "mean ", mean[i]);
    TORCH_CHECK(!std::isnan(a[i]) && !std::isnan(b[i]) && a[i] <= b[i],
                "fastinit::trunc_normal_ expects a <= b, but found a=", a[i],
                " > b=", b[i]);
    TORCH_CHECK(a[i] < INFINITY && b[i] > -INFINITY,
                "fastinit::trunc_normal_ expects [a, b] to hold a finite "
                "number, but found a=", a[i], ", b=", b[i]);
  }
}

void check_mixture_args(at::TensorList tensors, at::IntArrayRef seeds,
                        at::IntArrayRef counts, at::ArrayRef<double> probabilities,
                        at::IntArrayRef kinds, at::ArrayRef<double> parameters) {
  check_batch_sizes("mixture_", tensors, seeds, {counts.size()});
  int64_t total = 0;
  for (const int64_t count : counts) {
    TORCH_CHECK_VALUE(count >= 1 && count <= MixtureParams::kMaxComponents,
                      "fastinit::mixture_ takes 1 to ", MixtureParams::kMaxComponents,
                      " components, but got ", count);
    total += count;
  }
  constexpr int64_t kPer = MixtureParams::kParametersPerComponent;
  TORCH_CHECK(probabilities.size() == static_cast<size_t>(total) &&
                  kinds.size() == static_cast<size_t>(total) &&
                  parameters.size() == static_cast<size_t>(kPer * total),
              "fastinit::mixture_: got ", total, " components but ", probabilities.size(),
              " probabilities, ", kinds.size(), " kinds and ", parameters.size(),
              " parameters (", kPer, " per component)");
  int64_t k = 0;
  for (const int64_t count : counts) {
    double sum = 0.0;
    for (int64_t j = 0; j < count; ++j, ++k) {
      const double* numbers = parameters.data() + kPer * k;
      TORCH_CHECK_VALUE(probabilities[k] >= 0.0 && std::isfinite(probabilities[k]),
                        "fastinit::mixture_: probabilities must be finite and >= 0, but got ",
                        probabilities[k]);
      sum += probabilities[k];
      TORCH_CHECK_VALUE(kinds[k] >= MixtureParams::kConstant && kinds[k] <= MixtureParams::kTruncNormal,
                        "fastinit::mixture_: unknown component kind ", kinds[k]);
      TORCH_CHECK_VALUE(std::isfinite(numbers[0]) && std::isfinite(numbers[1]),
                        "fastinit::mixture_: component parameters must be finite, but got ",
                        numbers[0], ", ", numbers[1]);
      TORCH_CHECK_VALUE(kinds[k] != MixtureParams::kUniform || numbers[0] <= numbers[1],
                        "fastinit::mixture_: a uniform component needs a <= b, but got a=",
                        numbers[0], " > b=", numbers[1]);
      TORCH_CHECK_VALUE(kinds[k] != MixtureParams::kNormal || numbers[1] >= 0.0,
                        "fastinit::mixture_: a normal component needs std >= 0, but got std ",
                        numbers[1]);
      TORCH_CHECK_VALUE(kinds[k] != MixtureParams::kTruncNormal ||
                            (numbers[1] > 0.0 && !std::isnan(numbers[2]) &&
                             !std::isnan(numbers[3]) && numbers[2] <= numbers[3] &&
                             numbers[2] < INFINITY && numbers[3] > -INFINITY),
                        "fastinit::mixture_: a truncated normal component needs std > 0 and "
                        "a <= b holding a finite number, but got std ", numbers[1], ", a=",
                        numbers[2], ", b=", numbers[3]);
    }
    TORCH_CHECK_VALUE(std::fabs(sum - 1.0) <= 1e-6,
                      "fastinit::mixture_: probabilities must sum to 1 (within 1e-6), but sum to ",
                      sum);
  }
}

void check_orthogonal_args(at::TensorList destinations, const at::Tensor& gaussians) {
  // Sizes may be symbolic (fake tensors under torch.compile): compare them
  // as SymInts.
  TORCH_CHECK(gaussians.dim() == 3,
              "fastinit::orthogonal_from_ expects (count, min(rows, cols), max(rows, cols)) gaussians, but got ",
              gaussians.dim(), " dims");
  TORCH_SYM_CHECK(gaussians.sym_size(0).sym_eq(static_cast<int64_t>(destinations.size())),
                  "fastinit::orthogonal_from_ expects one gaussian per destination, but got ",
                  destinations.size(), " destinations and gaussians of shape ",
                  gaussians.sym_sizes());
  TORCH_SYM_CHECK(gaussians.sym_size(1).sym_le(gaussians.sym_size(2)),
                  "fastinit::orthogonal_from_ expects gaussians of (count, min(rows, cols), max(rows, cols)), "
                  "but got ", gaussians.sym_sizes());
  TORCH_CHECK(gaussians.scalar_type() == at::kFloat || gaussians.scalar_type() == at::kDouble,
              "fastinit::orthogonal_from_ computes in float32 or float64, but got ",
              gaussians.scalar_type());
  TORCH_CHECK(gaussians.is_contiguous(), "fastinit::orthogonal_from_ expects contiguous gaussians");
  for (const at::Tensor& destination : destinations) {
    check_destination("orthogonal_from_", destination);
    TORCH_CHECK(destination.dim() >= 2, "fastinit::orthogonal_from_: a destination needs 2 or more dims");
    TORCH_SYM_CHECK(destination.sym_size(0).sym_eq(gaussians.sym_size(1)).sym_or(
                        destination.sym_size(0).sym_eq(gaussians.sym_size(2))).sym_and(
                        destination.sym_numel().sym_eq(gaussians.sym_size(1) * gaussians.sym_size(2))),
                    "fastinit::orthogonal_from_: destination of shape ", destination.sym_sizes(),
                    " does not hold a ", gaussians.sym_size(1), " x ", gaussians.sym_size(2),
                    " matrix or its transpose");
  }
}

void check_sparse_args(const at::Tensor& tensor, double sparsity, double std) {
  TORCH_CHECK_VALUE(tensor.dim() == 2,
                    "fastinit::sparse_: only tensors with 2 dimensions are "
                    "supported, but got ", tensor.dim());
  // torch's sparse_ fails on std in its normal_ before it looks at sparsity
  TORCH_CHECK(std >= 0.0, "fastinit::sparse_ expects std >= 0.0, but found std ", std);
  TORCH_CHECK_VALUE(sparsity >= 0.0 && sparsity <= 1.0,
                    "fastinit::sparse_ expects 0 <= sparsity <= 1, but found "
                    "sparsity ", sparsity);
  check_destination("sparse_", tensor);
}

void check_shard_lists(const char* op, at::TensorList tensors,
                       at::OptionalIntArrayRef global_shapes,
                       at::OptionalIntArrayRef offsets) {
  TORCH_CHECK(global_shapes.has_value() == offsets.has_value(), "fastinit::", op,
              ": global_shapes and offsets must be given together");
  if (!global_shapes.has_value()) {
    return;
  }
  size_t dims = 0;
  for (const at::Tensor& tensor : tensors) {
    dims += static_cast<size_t>(tensor.dim());
  }
  TORCH_CHECK(global_shapes->size() == dims && offsets->size() == dims, "fastinit::", op,
              ": global_shapes and offsets need one number per dim of every tensor (", dims,
              "), but got ", global_shapes->size(), " and ", offsets->size());
  size_t at = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& tensor = tensors[i];
    const int64_t ndim = tensor.dim();
    const at::IntArrayRef global(global_shapes->data() + at, ndim);
    const at::IntArrayRef offset(offsets->data() + at, ndim);
    for (int64_t d = 0; d < ndim; ++d) {
      TORCH_SYM_CHECK(tensor.sym_size(d).sym_le(global[d] - offset[d]).sym_and(offset[d] >= 0),
                      "fastinit::", op, ": tensor ", i, " of shape ", tensor.sym_sizes(),
                      " at offsets ", offset, " does not fit in the global shape ", global);
    }
    at += static_cast<size_t>(ndim);
  }
}

std::vector<ShardWindow> shard_windows(const char* op, at::TensorList tensors,
                                       at::OptionalIntArrayRef global_shapes,
                                       at::OptionalIntArrayRef offsets) {
  check_shard_lists(op, tensors, global_shapes, offsets);
  std::vector<ShardWindow> windows(tensors.size());
  size_t at = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& tensor = tensors[i];
    const int ndim = static_cast<int>(tensor.dim());
    if (!global_shapes.has_value()) {
      windows[i].run = std::max<int64_t>(tensor.numel(), 1);
    } else if (tensor.numel() > 0) {
      TORCH_CHECK(ShardWindow::make(ndim, tensor.sizes().data(), global_shapes->data() + at,
                                    offsets->data() + at, windows[i]),
                  "fastinit::", op, ": tensor ", i, " has too many dims to place in ",
                  "its global shape");
    }
    at += static_cast<size_t>(ndim);
  }
  return windows;
}

}  // namespace fastinit
