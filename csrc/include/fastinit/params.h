// Per-tensor parameters of every distribution: plain data shared by all
// backends and instruction sets (see Note [instruction-set namespaces] in
// macros.h). Torch-free.
#pragma once

#include <cmath>
#include <cstdint>

#include "fastinit/macros.h"

namespace fastinit {

// The Philox key: the tensor's 64-bit seed, low word first.
struct PhiloxKey {
  uint32_t k0, k1;
};

FASTINIT_INLINE PhiloxKey philox_key_from_seed(uint64_t seed) {
  return {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
}

// The version of the values a seed gives (Note [fastinit RNG contract]):
//   1  Philox4x32-10 words as laid out in distributions.h; float32-computed
//      normals by Box-Muller with our own log, sin and cos.
//   2  the same kernels; the whole-model fills (materialize,
//      reset_parameters) take each tensor's seed from its name by default
//      (Note [name-keyed seeds] in fastinit/keyed.py) instead of drawing
//      one per tensor in module order.
constexpr int kStreamVersion = 2;

// Stream tags (the fourth counter word); see Note [fastinit RNG contract].
enum class Stream : uint32_t {
  kValues = 0,
  kSparsePattern = 1,
  kAcceptance = 2,
  kMixtureValues = 3,
};

// U(low, low + range).
template <typename T>
struct UniformParams {
  PhiloxKey key;
  T low;
  T range;
};

// N(mean, std^2).
template <typename T>
struct NormalParams {
  PhiloxKey key;
  T mean;
  T std;
};

// Above the magnitude of every float32 normal of lanes::box_muller
// (sqrt(-2 log 2^-32) = 6.6604 times |cos| or |sin| <= 1 + 2e-7; tested).
constexpr double kFloatNormalBound = 6.7;

// N(mean, std^2) restricted to [a, b]; see Note [exact truncated normal] in
// distributions.h for the method and the meaning of the fields.
template <typename T>
struct TruncNormalParams {
  enum class Method : uint32_t { kNormal, kUniform, kTail };

  PhiloxKey key;
  Method method;
  T mean, std;  // the affine map back from standard units
  T sign;       // -1 when the interval was mirrored
  T lo, hi;     // the sampled standardized interval (mirrored if sign < 0)
  T nearest;    // the point of [lo, hi] nearest to 0
  T lambda;     // rate of the exponential proposal
  T a, b;       // the bounds, for the final clamp
  // kNormal on an interval holding [-kFloatNormalBound, kFloatNormalBound]:
  // the float32 first attempt is never rejected, so the kernels skip the
  // test (the values are the same). An optimization of the float32 kernels.
  bool never_rejects;

  // Host-side setup; requires std > 0 and a <= b (checked by the caller).
  static TruncNormalParams make(PhiloxKey key, double mean, double std,
                                double a, double b) {
    double alpha = (a - mean) / std;
    double beta = (b - mean) / std;
    double sign = 1.0;
    if (beta < 0.0) {
      sign = -1.0;
      const double mirrored_alpha = -beta;
      beta = -alpha;
      alpha = mirrored_alpha;
    }
    // Note [exact truncated normal]: an interval of zero width, or more than
    // 1e18 standard deviations from the mean, holds a point mass at its bound
    // nearest the mean (the law's offset from it, about std / alpha, is below
    // 1e-36 of their distance): sampled as the uniform method on [0, 0] with
    // std 0 around that bound, so that alpha^2 never overflows.
    constexpr double kFarAway = 1e18;
    if (a == b || alpha > kFarAway) {
      const double bound = a == b ? a : (sign > 0.0 ? a : b);
      return point_mass(key, bound, a, b);
    }
    Method method;
    double nearest = 0.0;
    double lambda = 0.0;
    const double kSqrtTwoPi = 2.5066282746310002;
    if (alpha <= 0.0) {
      method = (beta - alpha >= kSqrtTwoPi) ? Method::kNormal : Method::kUniform;
    } else {
      nearest = alpha;
      const double root = std::sqrt(alpha * alpha + 4.0);
      lambda = 0.5 * (alpha + root);
      const double kTwoSqrtE = 3.2974425414002564;
      const double threshold = kTwoSqrtE / (alpha + root) *
                               std::exp(0.25 * alpha * (alpha - root));
      method = (beta - alpha <= threshold) ? Method::kUniform : Method::kTail;
    }
    TruncNormalParams p;
    p.key = key;
    p.method = method;
    p.mean = static_cast<T>(mean);
    p.std = static_cast<T>(std);
    p.sign = static_cast<T>(sign);
    p.lo = static_cast<T>(alpha);
    p.hi = static_cast<T>(beta);
    p.nearest = static_cast<T>(nearest);
    p.lambda = static_cast<T>(lambda);
    p.a = static_cast<T>(a);
    p.b = static_cast<T>(b);
    p.never_rejects = method == Method::kNormal && alpha <= -kFloatNormalBound &&
                      beta >= kFloatNormalBound;
    return p;
  }

 private:
  static TruncNormalParams point_mass(PhiloxKey key, double at, double a, double b) {
    TruncNormalParams p;
    p.key = key;
    p.method = Method::kUniform;
    p.mean = static_cast<T>(at);
    p.std = T(0);
    p.sign = T(1);
    p.lo = p.hi = p.nearest = T(0);
    p.lambda = T(0);
    p.a = static_cast<T>(a);
    p.b = static_cast<T>(b);
    p.never_rejects = false;
    return p;
  }
};

// A mixture: element i picks component k with probability p_k and draws
// from it (Note [fused mixtures] in distributions.h). float32-computed.
struct MixtureParams {
  static constexpr int kMaxComponents = 8;
  // Numbers per component in the op's parameter list: (value, -, -, -),
  // (a, b, -, -), (mean, std, -, -) or (mean, std, a, b) by kind.
  static constexpr int kParametersPerComponent = 4;
  enum Kind : uint32_t { kConstant = 0, kUniform = 1, kNormal = 2, kTruncNormal = 3 };

  PhiloxKey key;
  int count;
  // A choice word below threshold[k] (and not below an earlier one) picks
  // component k; the last component takes every remaining word.
  uint32_t threshold[kMaxComponents];
  uint32_t kind[kMaxComponents];
  // A value is offset + scale * x, x a unit uniform or a standard normal
  // (a constant: the offset alone).
  float offset[kMaxComponents];  // constant value, uniform low, normal mean
  float scale[kMaxComponents];   // -, uniform range, normal std
  bool any_normal;   // some component needs Box-Muller normals
  bool any_trunc;    // some component may reject (retries needed)
  bool any_test;     // some truncated component needs an acceptance word
  TruncNormalParams<float> trunc[kMaxComponents];  // kTruncNormal components
  // One word per element (Note [fused mixtures]): the 24-bit cell where
  // component k's choices start, and 1 / its number of cells.
  bool one_word;
  uint32_t first_cell[kMaxComponents];
  float inverse_cells[kMaxComponents];

  // Host-side setup from probabilities summing to 1 (checked by the caller)
  // and kParametersPerComponent parameters per component.
  static MixtureParams make(PhiloxKey key, int count, const double* probability,
                            const int64_t* kinds, const double* parameters) {
    MixtureParams p{};
    p.key = key;
    p.count = count;
    p.one_word = true;
    for (int k = 0; k < count; ++k) {
      const double* numbers = parameters + kParametersPerComponent * k;
      p.kind[k] = static_cast<uint32_t>(kinds[k]);
      p.offset[k] = static_cast<float>(numbers[0]);
      p.scale[k] = static_cast<float>(kinds[k] == kUniform ? numbers[1] - numbers[0] : numbers[1]);
      if (kinds[k] == kTruncNormal) {
        p.trunc[k] = TruncNormalParams<float>::make(key, numbers[0], numbers[1], numbers[2], numbers[3]);
        p.any_trunc = true;
        const bool normal_proposal = p.trunc[k].method == TruncNormalParams<float>::Method::kNormal;
        p.any_normal = p.any_normal || normal_proposal;
        p.any_test = p.any_test || !normal_proposal;
      }
      p.any_normal = p.any_normal || kinds[k] == kNormal;
      p.one_word = p.one_word && kinds[k] != kNormal && kinds[k] != kTruncNormal &&
                   probability[k] >= 1.0 / 256;
    }
    // Thresholds: in units of 2^-32, or of whole 24-bit cells (2^-24) when
    // one word serves both choice and value.
    const double units = p.one_word ? 16777216.0 : 4294967296.0;
    double cumulative = 0.0;
    uint32_t previous_cell = 0;
    for (int k = 0; k < count; ++k) {
      cumulative += probability[k];
      const double scaled = std::floor(cumulative * units);
      const double capped = k == count - 1 ? units : std::fmin(scaled, units - 1);
      if (p.one_word) {
        const uint32_t cell = static_cast<uint32_t>(capped);
        p.threshold[k] = cell >= (1u << 24) ? 0xFFFFFFFFu : cell << 8;
        p.first_cell[k] = previous_cell;
        p.inverse_cells[k] = cell > previous_cell ? 1.0f / static_cast<float>(cell - previous_cell) : 0.0f;
        previous_cell = cell;
      } else {
        p.threshold[k] = capped >= 4294967295.0 ? 0xFFFFFFFFu : static_cast<uint32_t>(capped);
      }
    }
    return p;
  }
};

}  // namespace fastinit
