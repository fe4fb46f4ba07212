// The host side that every backend shares: one call's arguments, checked,
// as the parameters of each tensor (the Params of fastinit/params.h), and
// sparse_'s zero pattern. Each constructor checks the whole call (checks.h)
// before any tensor is written.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "checks.h"
#include "fastinit/distributions.h"
#include "fastinit/params.h"
#include "ops.h"

namespace fastinit {

inline PhiloxKey key_of(int64_t seed) {
  return philox_key_from_seed(static_cast<uint64_t>(seed));
}

// Each *Args gives params32(i) and params64(i): the parameters of tensor i
// computed in float32 (float32, float16 and bfloat16 tensors) and in
// float64 (float64 tensors).
struct UniformArgs {
  static constexpr const char* kOp = "uniform_";
  using Params32 = UniformParams<float>;
  using Params64 = UniformParams<double>;

  UniformArgs(at::TensorList tensors, at::IntArrayRef seeds, ops::Numbers low, ops::Numbers high)
      : seeds(seeds), low(low), high(high) {
    check_uniform_args(tensors, seeds, low, high);
  }
  Params32 params32(size_t i) const {
    return {key_of(seeds[i]), static_cast<float>(low[i]), static_cast<float>(high[i] - low[i])};
  }
  Params64 params64(size_t i) const { return {key_of(seeds[i]), low[i], high[i] - low[i]}; }

  at::IntArrayRef seeds;
  ops::Numbers low, high;
};

struct NormalArgs {
  static constexpr const char* kOp = "normal_";
  using Params32 = NormalParams<float>;
  using Params64 = NormalParams<double>;

  NormalArgs(at::TensorList tensors, at::IntArrayRef seeds, ops::Numbers mean, ops::Numbers std)
      : seeds(seeds), mean(mean), std(std) {
    check_normal_args(tensors, seeds, mean, std);
  }
  Params32 params32(size_t i) const {
    return {key_of(seeds[i]), static_cast<float>(mean[i]), static_cast<float>(std[i])};
  }
  Params64 params64(size_t i) const { return {key_of(seeds[i]), mean[i], std[i]}; }

  at::IntArrayRef seeds;
  ops::Numbers mean, std;
};

struct TruncNormalArgs {
  static constexpr const char* kOp = "trunc_normal_";
  using Params32 = TruncNormalParams<float>;
  using Params64 = TruncNormalParams<double>;

  TruncNormalArgs(at::TensorList tensors, at::IntArrayRef seeds, ops::Numbers mean,
                  ops::Numbers std, ops::Numbers a, ops::Numbers b)
      : seeds(seeds), mean(mean), std(std), a(a), b(b) {
    check_trunc_normal_args(tensors, seeds, mean, std, a, b);
  }
  Params32 params32(size_t i) const {
    return Params32::make(key_of(seeds[i]), mean[i], std[i], a[i], b[i]);
  }
  Params64 params64(size_t i) const {
    return Params64::make(key_of(seeds[i]), mean[i], std[i], a[i], b[i]);
  }

  at::IntArrayRef seeds;
  ops::Numbers mean, std, a, b;
};

// Note [fused mixtures]: every dtype is computed in float32.
struct MixtureArgs {
  static constexpr const char* kOp = "mixture_";
  using Params32 = MixtureParams;
  using Params64 = MixtureParams;

  MixtureArgs(at::TensorList tensors, at::IntArrayRef seeds, at::IntArrayRef counts,
              ops::Numbers probabilities, at::IntArrayRef kinds, ops::Numbers parameters);
  Params32 params32(size_t i) const;
  Params64 params64(size_t i) const { return params32(i); }

  at::IntArrayRef seeds, counts, kinds;
  ops::Numbers probabilities, parameters;
  std::vector<int64_t> first_component;  // of tensor i, in the component lists
};

// Note [sparse_ zero pattern]: the rows sparse_ zeroes in each column of a
// (rows, cols) tensor.
class SparsePattern {
 public:
  // Checks the row count; the other arguments are checked by the caller.
  SparsePattern(const at::Tensor& tensor, int64_t seed, double sparsity);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  // Rows zeroed per column.
  int64_t zeros() const { return zeros_; }

  // zero(row, column) for every zeroed element of the columns [begin, end).
  template <typename Zero>
  void for_columns(int64_t begin, int64_t end, Zero zero) const {
    std::vector<int64_t> perm(static_cast<size_t>(rows_));
    std::vector<int64_t> swaps(static_cast<size_t>(zeros_));
    for (int64_t r = 0; r < rows_; ++r) {
      perm[r] = r;
    }
    for (int64_t c = begin; c < end; ++c) {
      choose_sparse_rows(key_, static_cast<uint64_t>(c), rows_, zeros_, perm.data(),
                         swaps.data());
      for (int64_t j = 0; j < zeros_; ++j) {
        zero(perm[j], c);
      }
      undo_sparse_rows(zeros_, perm.data(), swaps.data());
    }
  }

 private:
  PhiloxKey key_;
  int64_t rows_, cols_, zeros_;
};

}  // namespace fastinit
