// CPU kernels: thin parallel loops around the distributions of
// fastinit/distributions.h (Note [fastinit RNG contract]).
#include <algorithm>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "../checks.h"
#include "fastinit/distributions.h"
#include "fastinit/layout.h"

namespace fastinit::cpu {
namespace {

// Values generated per step into a buffer that stays in L1; a multiple of
// every group size.
constexpr int64_t kChunk = 1024;
// Elements below which a fill stays on the calling thread.
constexpr int64_t kGrainElements = 32768;

// Fills logical elements [begin, end) of `data`; `begin` is a multiple of
// Dist::kGroupSize. A null `layout` means contiguous.
template <typename scalar_t, typename Dist, typename T>
void fill_range(const Dist& dist, int64_t begin, int64_t end, scalar_t* data,
                const StridedLayout* layout) {
  constexpr int64_t kGroup = Dist::kGroupSize;
  static_assert(kChunk % kGroup == 0, "chunk must hold whole groups");
  T buffer[kChunk];
  for (int64_t start = begin; start < end; start += kChunk) {
    const int64_t count = std::min(kChunk, end - start);
    const uint64_t first_group = static_cast<uint64_t>(start / kGroup);
    const int64_t groups = (count + kGroup - 1) / kGroup;
    for (int64_t g = 0; g < groups; ++g) {
      dist(first_group + g, buffer + g * kGroup);
    }
    if (layout == nullptr) {
      scalar_t* out = data + start;
      for (int64_t j = 0; j < count; ++j) {
        out[j] = static_cast<scalar_t>(buffer[j]);
      }
    } else {
      StridedCursor cursor(*layout, start);
      for (int64_t j = 0; j < count; ++j) {
        data[cursor.offset()] = static_cast<scalar_t>(buffer[j]);
        cursor.advance();
      }
    }
  }
}

template <typename scalar_t, typename Dist>
void fill_tensor(const at::Tensor& tensor, const Dist& dist) {
  using T = at::opmath_type<scalar_t>;
  const int64_t numel = tensor.numel();
  if (numel == 0) {
    return;
  }
  StridedLayout layout;
  const bool contiguous = tensor.is_contiguous();
  if (!contiguous &&
      !StridedLayout::coalesce(static_cast<int>(tensor.dim()),
                               tensor.sizes().data(), tensor.strides().data(),
                               layout)) {
    // Too many dims to walk: fill a contiguous twin and copy it over.
    at::Tensor twin = at::empty_like(tensor, at::MemoryFormat::Contiguous);
    fill_tensor<scalar_t>(twin, dist);
    tensor.copy_(twin);
    return;
  }
  constexpr int64_t kGroup = Dist::kGroupSize;
  const int64_t groups = (numel + kGroup - 1) / kGroup;
  scalar_t* data = tensor.data_ptr<scalar_t>();
  const StridedLayout* walk = contiguous ? nullptr : &layout;
  at::parallel_for(0, groups, kGrainElements / kGroup,
                   [&](int64_t group_begin, int64_t group_end) {
                     fill_range<scalar_t, Dist, T>(
                         dist, group_begin * kGroup,
                         std::min(group_end * kGroup, numel), data, walk);
                   });
}

// Calls fill(scalar_t{}, compute_t{}) for the tensor's dtype; the compute
// type is float for the 16-bit types (rounded once on the store).
template <typename Fill>
void dispatch_floating(const at::Tensor& tensor, const char* op, Fill fill) {
  switch (tensor.scalar_type()) {
    case at::kFloat:
      return fill(float{}, float{});
    case at::kDouble:
      return fill(double{}, double{});
    case at::kHalf:
      return fill(at::Half{}, float{});
    case at::kBFloat16:
      return fill(at::BFloat16{}, float{});
    default:
      TORCH_CHECK_NOT_IMPLEMENTED(false, op, ": unsupported dtype ",
                                  tensor.scalar_type());
  }
}

PhiloxKey key_of(int64_t seed) {
  return philox_key_from_seed(static_cast<uint64_t>(seed));
}

void uniform_(at::TensorList tensors, at::IntArrayRef seeds,
              at::ArrayRef<double> low, at::ArrayRef<double> high) {
  check_uniform_args(tensors, seeds, low, high);
  for (size_t i = 0; i < tensors.size(); ++i) {
    dispatch_floating(tensors[i], "fastinit::uniform_", [&](auto s, auto t) {
      using scalar_t = decltype(s);
      using T = decltype(t);
      const UniformDist<T> dist{key_of(seeds[i]), static_cast<T>(low[i]),
                                static_cast<T>(high[i] - low[i])};
      fill_tensor<scalar_t>(tensors[i], dist);
    });
  }
}

void normal_(at::TensorList tensors, at::IntArrayRef seeds,
             at::ArrayRef<double> mean, at::ArrayRef<double> std) {
  check_normal_args(tensors, seeds, mean, std);
  for (size_t i = 0; i < tensors.size(); ++i) {
    dispatch_floating(tensors[i], "fastinit::normal_", [&](auto s, auto t) {
      using scalar_t = decltype(s);
      using T = decltype(t);
      const NormalDist<T> dist{key_of(seeds[i]), static_cast<T>(mean[i]),
                               static_cast<T>(std[i])};
      fill_tensor<scalar_t>(tensors[i], dist);
    });
  }
}

void trunc_normal_(at::TensorList tensors, at::IntArrayRef seeds,
                   at::ArrayRef<double> mean, at::ArrayRef<double> std,
                   at::ArrayRef<double> a, at::ArrayRef<double> b) {
  check_trunc_normal_args(tensors, seeds, mean, std, a, b);
  for (size_t i = 0; i < tensors.size(); ++i) {
    dispatch_floating(
        tensors[i], "fastinit::trunc_normal_", [&](auto s, auto t) {
          using scalar_t = decltype(s);
          using T = decltype(t);
          const auto dist = TruncNormalDist<T>::make(key_of(seeds[i]), mean[i],
                                                     std[i], a[i], b[i]);
          fill_tensor<scalar_t>(tensors[i], dist);
        });
  }
}

// Note [sparse_ zero pattern] in distributions.h.
void sparse_(const at::Tensor& tensor, int64_t seed, double sparsity,
             double std) {
  check_sparse_args(tensor, sparsity, std);
  const int64_t rows = tensor.size(0);
  const int64_t cols = tensor.size(1);
  TORCH_CHECK(rows <= INT64_C(0xFFFFFFFF),
              "fastinit::sparse_ supports at most 2^32 - 1 rows, but got ",
              rows);
  const int64_t zeros = sparse_zero_count(rows, sparsity);
  normal_({tensor}, {seed}, {0.0}, {std});
  if (zeros == 0 || cols == 0) {
    return;
  }
  const PhiloxKey key = key_of(seed);
  const int64_t row_stride = tensor.stride(0);
  const int64_t col_stride = tensor.stride(1);
  dispatch_floating(tensor, "fastinit::sparse_", [&](auto s, auto) {
    using scalar_t = decltype(s);
    scalar_t* data = tensor.data_ptr<scalar_t>();
    const int64_t grain = std::max<int64_t>(1, kGrainElements / rows);
    at::parallel_for(0, cols, grain, [&](int64_t col_begin, int64_t col_end) {
      std::vector<int64_t> perm(rows);
      std::vector<int64_t> swaps(zeros);
      for (int64_t r = 0; r < rows; ++r) {
        perm[r] = r;
      }
      for (int64_t c = col_begin; c < col_end; ++c) {
        choose_sparse_rows(key, static_cast<uint64_t>(c), rows, zeros,
                           perm.data(), swaps.data());
        for (int64_t j = 0; j < zeros; ++j) {
          data[perm[j] * row_stride + c * col_stride] = scalar_t(0);
        }
        undo_sparse_rows(zeros, perm.data(), swaps.data());
      }
    });
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(fastinit, CPU, m) {
  m.impl("uniform_", &uniform_);
  m.impl("normal_", &normal_);
  m.impl("trunc_normal_", &trunc_normal_);
  m.impl("sparse_", &sparse_);
}

}  // namespace fastinit::cpu
