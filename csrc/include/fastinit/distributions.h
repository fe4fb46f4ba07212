// The distributions of fastinit as pure functions of (key, element index).
// Torch-free; compiles for host and device.
//
// Each distribution is a small struct of per-tensor parameters with
//   static constexpr int kGroupSize;            // values per call
//   void operator()(uint64_t group, T* out);    // elements group*kGroupSize..
// The value of element i depends only on the key, i and the parameters
// (Note [fastinit RNG contract] in philox.h), so a kernel may split the index
// range across threads, chunks or devices in any way. T is the compute type:
// float (for float32, float16 and bfloat16 outputs) or double.
#pragma once

#include <cstdint>
#include <type_traits>

#include "fastinit/macros.h"
#include "fastinit/math.h"
#include "fastinit/philox.h"

namespace fastinit {

// A number in [0, 1) (co) or (0, 1] (oc) from one word (float) or two words
// (double); the float versions ignore `lo`.
template <typename T>
FASTINIT_INLINE T unit_co(uint32_t hi, uint32_t lo) {
  if constexpr (std::is_same_v<T, float>) {
    (void)lo;
    return unit_co_f32(hi);
  } else {
    return unit_co_f64(hi, lo);
  }
}

template <typename T>
FASTINIT_INLINE T unit_oc(uint32_t hi, uint32_t lo) {
  if constexpr (std::is_same_v<T, float>) {
    (void)lo;
    return unit_oc_f32(hi);
  } else {
    return unit_oc_f64(hi, lo);
  }
}

// Box-Muller: two independent standard normals from u1 in (0, 1] and u2 in
// [0, 1).
template <typename T>
FASTINIT_INLINE void box_muller(T u1, T u2, T& z0, T& z1) {
  const T radius = sqrt_(mul_rn(T(-2), log_(u1)));
  const T theta = mul_rn(MathConstants<T>::kTwoPi, u2);
  z0 = mul_rn(radius, cos_(theta));
  z1 = mul_rn(radius, sin_(theta));
}

// U(low, low + range): low + u * range, u in [0, 1) (torch's formula).
template <typename T>
struct UniformDist {
  static constexpr int kGroupSize = std::is_same_v<T, float> ? 4 : 2;

  PhiloxKey key;
  T low;
  T range;

  FASTINIT_INLINE void operator()(uint64_t group, T* out) const {
    const PhiloxBlock r = philox_block(key, group);
    if constexpr (std::is_same_v<T, float>) {
      for (int j = 0; j < 4; ++j) {
        out[j] = add_rn(mul_rn(unit_co_f32(r.x[j]), range), low);
      }
    } else {
      out[0] = add_rn(mul_rn(unit_co_f64(r.x[0], r.x[1]), range), low);
      out[1] = add_rn(mul_rn(unit_co_f64(r.x[2], r.x[3]), range), low);
    }
  }
};

// N(mean, std^2) by Box-Muller: words (0, 1) give elements 4g and 4g + 1,
// words (2, 3) give 4g + 2 and 4g + 3 (float); for double, all four words
// give elements 2g and 2g + 1.
template <typename T>
struct NormalDist {
  static constexpr int kGroupSize = std::is_same_v<T, float> ? 4 : 2;

  PhiloxKey key;
  T mean;
  T std;

  FASTINIT_INLINE void operator()(uint64_t group, T* out) const {
    const PhiloxBlock r = philox_block(key, group);
    T z[4];
    if constexpr (std::is_same_v<T, float>) {
      box_muller(unit_oc_f32(r.x[0]), unit_co_f32(r.x[1]), z[0], z[1]);
      box_muller(unit_oc_f32(r.x[2]), unit_co_f32(r.x[3]), z[2], z[3]);
    } else {
      box_muller(unit_oc_f64(r.x[0], r.x[1]), unit_co_f64(r.x[2], r.x[3]),
                 z[0], z[1]);
    }
    for (int j = 0; j < kGroupSize; ++j) {
      out[j] = add_rn(mean, mul_rn(std, z[j]));
    }
  }
};

// Note [exact truncated normal]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// N(mean, std^2) restricted to [a, b], sampled exactly by rejection in the
// standardized interval [alpha, beta] = [(a - mean) / std, (b - mean) / std]
// (C. P. Robert, "Simulation of truncated normal variables", Statistics and
// Computing 5, 1995). The proposal is chosen once per tensor by its
// acceptance rate:
//  * the interval holds 0 and is wider than sqrt(2 pi): a standard normal
//    proposal, accepted when it falls inside (rate >= 0.49);
//  * a narrow interval: a uniform proposal z on it, accepted with
//    probability exp((m^2 - z^2) / 2), m the point of the interval nearest 0;
//  * a wide interval away from 0 (a tail): an exponential proposal
//    z = lo + Exp(lambda), lambda = (lo + sqrt(lo^2 + 4)) / 2, accepted with
//    probability exp(-(z - lambda)^2 / 2) when z <= hi. Intervals below 0
//    are mirrored to lie above it.
// Robert's threshold decides between the last two. Every rate is bounded
// away from zero, wherever the interval lies and however small std is, so
// no value is clamped onto a bound (the erfinv method of torch loses
// accuracy far in the tails). Attempt k of element i uses Philox block
// (i, k): the value stays a pure function of (seed, i). The final clamp to
// [a, b] only absorbs the rounding of mean + std * z.
template <typename T>
struct TruncNormalDist {
  static constexpr int kGroupSize = 1;
  // Far beyond any use: even the worst proposal (rate > 0.3) fails this
  // often with probability below 1e-150.
  static constexpr uint32_t kMaxAttempts = 300;

  enum class Method : uint32_t { kNormal, kUniform, kTail };

  PhiloxKey key;
  Method method;
  T mean, std;  // the affine map back from standard units
  T sign;       // -1 when the interval was mirrored
  T lo, hi;     // the sampled standardized interval (mirrored if sign < 0)
  T nearest;    // the point of [lo, hi] nearest to 0
  T lambda;     // rate of the exponential proposal
  T a, b;       // the bounds, for the final clamp

  // Host-side setup; requires std > 0 and a <= b (checked by the caller).
  static TruncNormalDist make(PhiloxKey key, double mean, double std,
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
    TruncNormalDist d;
    d.key = key;
    d.method = method;
    d.mean = static_cast<T>(mean);
    d.std = static_cast<T>(std);
    d.sign = static_cast<T>(sign);
    d.lo = static_cast<T>(alpha);
    d.hi = static_cast<T>(beta);
    d.nearest = static_cast<T>(nearest);
    d.lambda = static_cast<T>(lambda);
    d.a = static_cast<T>(a);
    d.b = static_cast<T>(b);
    return d;
  }

  // One attempt of the standardized sampler; true when z is accepted.
  FASTINIT_INLINE bool propose(const PhiloxBlock& r, T& z) const {
    switch (method) {
      case Method::kNormal: {
        T z_unused;
        box_muller(unit_oc<T>(r.x[0], r.x[1]), unit_co<T>(r.x[2], r.x[3]), z,
                   z_unused);
        return lo <= z && z <= hi;
      }
      case Method::kUniform: {
        z = add_rn(lo, mul_rn(hi - lo, unit_co<T>(r.x[0], r.x[1])));
        // log v <= (m^2 - z^2) / 2, written to avoid overflow of the squares
        const T log_ratio =
            mul_rn(T(0.5), mul_rn(nearest - z, nearest + z));
        return log_(unit_oc<T>(r.x[2], r.x[3])) <= log_ratio;
      }
      case Method::kTail:
      default: {
        z = lo - log_(unit_oc<T>(r.x[0], r.x[1])) / lambda;
        if (!(z <= hi)) {
          return false;
        }
        const T d = z - lambda;
        return log_(unit_oc<T>(r.x[2], r.x[3])) <= mul_rn(T(-0.5), mul_rn(d, d));
      }
    }
  }

  FASTINIT_INLINE void operator()(uint64_t index, T* out) const {
    T z = nearest;
    for (uint32_t attempt = 0; attempt < kMaxAttempts; ++attempt) {
      T candidate;
      if (propose(philox_block(key, index, attempt), candidate)) {
        z = candidate;
        break;
      }
    }
    const T x = add_rn(mean, mul_rn(std, mul_rn(sign, z)));
    out[0] = x < a ? a : (x > b ? b : x);
  }
};

// Note [sparse_ zero pattern]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~
// sparse_ zeroes exactly `count` rows of every column. Column c draws them
// with a partial Fisher-Yates shuffle of 0..rows-1 whose j-th swap uses
// Philox block (c, j) of the sparse-pattern stream, so the pattern is a pure
// function of (seed, c). `perm` must hold the identity permutation on entry;
// the chosen rows end up in perm[0..count), and `swaps` (count entries)
// records the shuffle so that undo_sparse_rows restores the identity in
// O(count) for the next column.
FASTINIT_INLINE void choose_sparse_rows(PhiloxKey key, uint64_t column,
                                        int64_t rows, int64_t count,
                                        int64_t* perm, int64_t* swaps) {
  for (int64_t j = 0; j < count; ++j) {
    const PhiloxBlock r = philox_block(key, column, static_cast<uint32_t>(j),
                                       Stream::kSparsePattern);
    const int64_t pick =
        j + static_cast<int64_t>(uniform_below(
                r.x[0], r.x[1], static_cast<uint64_t>(rows - j)));
    swaps[j] = pick;
    const int64_t tmp = perm[j];
    perm[j] = perm[pick];
    perm[pick] = tmp;
  }
}

FASTINIT_INLINE void undo_sparse_rows(int64_t count, int64_t* perm,
                                      const int64_t* swaps) {
  for (int64_t j = count - 1; j >= 0; --j) {
    const int64_t pick = swaps[j];
    const int64_t tmp = perm[j];
    perm[j] = perm[pick];
    perm[pick] = tmp;
  }
}

}  // namespace fastinit
