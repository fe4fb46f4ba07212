#include "checks.h"

#include <cmath>

#include <ATen/MemoryOverlap.h>
#include <c10/util/Exception.h>

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

}  // namespace

void check_destination(const char* op, const at::Tensor& tensor) {
  TORCH_CHECK_NOT_IMPLEMENTED(
      at::isFloatingType(tensor.scalar_type()), "fastinit::", op,
      ": unsupported dtype ", tensor.scalar_type(),
      "; expected float32, float64, float16 or bfloat16");
  at::assert_no_internal_overlap(tensor);
}

void check_uniform_args(at::TensorList tensors, at::IntArrayRef seeds,
                        at::ArrayRef<double> low, at::ArrayRef<double> high) {
  check_batch_sizes("uniform_", tensors, seeds, {low.size(), high.size()});
  for (size_t i = 0; i < tensors.size(); ++i) {
    TORCH_CHECK(std::isfinite(low[i]) && std::isfinite(high[i]),
                "fastinit::uniform_ expects finite bounds, but found a=",
                low[i], ", b=", high[i]);
    TORCH_CHECK(low[i] <= high[i],
                "fastinit::uniform_ expects to return a [a, b) range, but "
                "found a=", low[i], " > b=", high[i]);
  }
}

void check_normal_args(at::TensorList tensors, at::IntArrayRef seeds,
                       at::ArrayRef<double> mean, at::ArrayRef<double> std) {
  check_batch_sizes("normal_", tensors, seeds, {mean.size(), std.size()});
  for (size_t i = 0; i < tensors.size(); ++i) {
    TORCH_CHECK(std[i] >= 0.0 && std::isfinite(std[i]),
                "fastinit::normal_ expects finite std >= 0.0, but found std ",
                std[i]);
    TORCH_CHECK(std::isfinite(mean[i]),
                "fastinit::normal_ expects a finite mean, but found mean ",
                mean[i]);
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

void check_sparse_args(const at::Tensor& tensor, double sparsity, double std) {
  TORCH_CHECK_VALUE(tensor.dim() == 2,
                    "fastinit::sparse_: only tensors with 2 dimensions are "
                    "supported, but got ", tensor.dim());
  TORCH_CHECK_VALUE(sparsity >= 0.0 && sparsity <= 1.0,
                    "fastinit::sparse_ expects 0 <= sparsity <= 1, but found "
                    "sparsity ", sparsity);
  TORCH_CHECK(std >= 0.0 && std::isfinite(std),
              "fastinit::sparse_ expects finite std >= 0.0, but found std ",
              std);
  check_destination("sparse_", tensor);
}

int64_t sparse_zero_count(int64_t rows, double sparsity) {
  return static_cast<int64_t>(std::ceil(sparsity * static_cast<double>(rows)));
}

}  // namespace fastinit
