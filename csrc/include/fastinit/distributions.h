// The distributions of fastinit as pure functions of (key, element index).
// Torch-free; compiles for host and device.
//
// float32 (also the compute type of float16/bfloat16 outputs) is written once
// for any number of lanes (Note [one implementation for every instruction
// set] in lanes.h): a call fills N vectors of W = S::kWidth groups of four
// elements, lane l of vector n holding group first_group + n W + l and
// out[n][j] its element j. The scalar float64 versions use the platform's
// libm.
#pragma once

#include <cstdint>

#include "fastinit/lanes.h"
#include "fastinit/macros.h"
#include "fastinit/math.h"
#include "fastinit/params.h"
#include "fastinit/philox.h"

FASTINIT_NAMESPACE_BEGIN

// Elements per group of the float32 kernels: one Philox block each.
constexpr int kFloatGroup = 4;

// Counters (low, high words) of the W blocks first, first + 1, ...
template <class S>
FASTINIT_INLINE void block_counters(uint64_t first, typename S::U& lo,
                                    typename S::U& hi) {
  const typename S::U base = S::splat_u(static_cast<uint32_t>(first));
  lo = base + S::iota();
  hi = S::splat_u(static_cast<uint32_t>(first >> 32)) +
       ((lo < base) ? S::splat_u(1) : S::splat_u(0));
}

// The blocks first + n W + l of N vectors.
template <class S, int N>
FASTINIT_INLINE void philox_blocks(PhiloxKey key, uint64_t first,
                                   uint32_t attempt, Stream stream,
                                   lanes::Block<S> (&out)[N]) {
  const uint64_t last = first + static_cast<uint64_t>(N * S::kWidth - 1);
  if ((first >> 32) == (last >> 32)) {  // Note [counters that differ in one word]
    typename S::U lo[N];
    for (int n = 0; n < N; ++n) {
      lo[n] = S::splat_u(static_cast<uint32_t>(first) + n * S::kWidth) + S::iota();
    }
    lanes::philox_n_shared<S, N>(key, lo, static_cast<uint32_t>(first >> 32),
                                 attempt, static_cast<uint32_t>(stream), out);
    return;
  }
  typename S::U lo[N], hi[N];
  for (int n = 0; n < N; ++n) {
    block_counters<S>(first + static_cast<uint64_t>(n) * S::kWidth, lo[n], hi[n]);
  }
  lanes::philox_n<S, N>(key, lo, hi, S::splat_u(attempt),
                        S::splat_u(static_cast<uint32_t>(stream)), out);
}

// ---------------------------------------------------------------- uniform
// Element i: low + u * range with u = unit_co(word i % 4 of block i / 4)
// (torch's formula, two roundings).
template <class S, int N>
FASTINIT_INLINE void uniform_lanes(const UniformParams<float>& p,
                                   uint64_t first_group,
                                   typename S::F (&out)[N][4]) {
  lanes::Block<S> blocks[N];
  philox_blocks<S, N>(p.key, first_group, 0, Stream::kValues, blocks);
  for (int n = 0; n < N; ++n) {
    for (int j = 0; j < 4; ++j) {
      out[n][j] = lanes::unit_co<S>(blocks[n].x[j]) * S::splat_f(p.range) +
                  S::splat_f(p.low);
    }
  }
}

// ----------------------------------------------------------------- normal
// Box-Muller: words (0, 1) of block g give elements 4g, 4g + 1; words (2, 3)
// give 4g + 2, 4g + 3. Element: mean + std * z (two roundings).
template <class S>
FASTINIT_INLINE void standard_normal_lanes(const lanes::Block<S>& block,
                                           typename S::F z[4]) {
  lanes::box_muller<S>(block.x[0], block.x[1], z[0], z[1]);
  lanes::box_muller<S>(block.x[2], block.x[3], z[2], z[3]);
}

template <class S, int N>
FASTINIT_INLINE void normal_lanes(const NormalParams<float>& p,
                                  uint64_t first_group,
                                  typename S::F (&out)[N][4]) {
  lanes::Block<S> blocks[N];
  philox_blocks<S, N>(p.key, first_group, 0, Stream::kValues, blocks);
  for (int n = 0; n < N; ++n) {
    typename S::F z[4];
    standard_normal_lanes<S>(blocks[n], z);
    for (int j = 0; j < 4; ++j) {
      out[n][j] = S::splat_f(p.std) * z[j] + S::splat_f(p.mean);
    }
  }
}

// ------------------------------------------------------- truncated normal
// Note [exact truncated normal]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// N(mean, std^2) restricted to [a, b], sampled exactly by rejection in the
// standardized interval [alpha, beta] = [(a - mean) / std, (b - mean) / std]
// (C. P. Robert, "Simulation of truncated normal variables", Statistics and
// Computing 5, 1995). The proposal is chosen once per tensor by its
// acceptance rate (TruncNormalParams::make):
//  * kNormal: the interval holds 0 and is wider than sqrt(2 pi): a standard
//    normal, accepted when it falls inside (rate >= 0.49; where the interval
//    holds every float32 normal, as for std = 0.02 on [-2, 2], the float32
//    kernels skip the test: never_rejects);
//  * kUniform: a narrow interval: z uniform on it, accepted with
//    probability exp((m^2 - z^2) / 2), m the point of the interval nearest 0;
//  * kTail: a wide interval away from 0: z = lo + Exp(lambda),
//    lambda = (lo + sqrt(lo^2 + 4)) / 2, accepted with probability
//    exp(-(z - lambda)^2 / 2) when z <= hi. Intervals below 0 are mirrored.
// Robert's threshold decides between the last two. Every rate is bounded
// away from zero wherever the interval lies and however small std is, so no
// value is clamped onto a bound (torch's erfinv method loses accuracy far in
// the tails, pytorch issue 155588). The final clamp to [a, b] only absorbs
// the rounding of mean + std * z.
//
// Random words, so that every element stays a pure function of (seed, i):
// the first attempt of the elements of group g uses block g (kNormal: the
// four Box-Muller normals of that block, as normal_ does), or, for kUniform
// and kTail, word i % 4 of block g for the candidate and of block g of the
// acceptance stream for the test. Attempt k >= 1 of element i uses block
// (i, attempt k): words 0 and 2. After kMaxAttempts (unreachable in
// practice: even the worst proposal fails that often with probability below
// 1e-90) the element takes the point of [a, b] nearest the mean.
constexpr uint32_t kTruncNormalMaxAttempts = 300;

// A candidate from a uniform/tail proposal; true where accepted.
template <class S>
FASTINIT_INLINE typename S::M propose_uniform_or_tail(const TruncNormalParams<float>& p,
                                             typename S::U candidate_word,
                                             typename S::U test_word,
                                             typename S::F& z) {
  using F = typename S::F;
  const F log_test = lanes::log_unit<S>(lanes::unit_oc<S>(test_word));
  if (p.method == TruncNormalParams<float>::Method::kUniform) {
    z = lanes::unit_co<S>(candidate_word) * S::splat_f(p.hi - p.lo) +
        S::splat_f(p.lo);
    // log v <= (m^2 - z^2) / 2, written to avoid overflow of the squares
    const F nearest = S::splat_f(p.nearest);
    return log_test <= S::splat_f(0.5f) * ((nearest - z) * (nearest + z));
  }
  z = S::splat_f(p.lo) -
      lanes::log_unit<S>(lanes::unit_oc<S>(candidate_word)) /
          S::splat_f(p.lambda);
  const F d = z - S::splat_f(p.lambda);
  return (z <= S::splat_f(p.hi)) & (log_test <= S::splat_f(-0.5f) * (d * d));
}

template <class S>
FASTINIT_INLINE typename S::F trunc_normal_finish(
    const TruncNormalParams<float>& p, typename S::F z) {
  const typename S::F x =
      S::splat_f(p.std) * (S::splat_f(p.sign) * z) + S::splat_f(p.mean);
  const typename S::F low = S::splat_f(p.a);
  const typename S::F high = S::splat_f(p.b);
  return x < low ? low : (high < x ? high : x);
}

// The value of an element that exhausted its attempts.
FASTINIT_INLINE float trunc_normal_fallback(const TruncNormalParams<float>& p) {
  const float x = p.std * (p.sign * p.nearest) + p.mean;
  return x < p.a ? p.a : (p.b < x ? p.b : x);
}

// First attempt for N vectors of W groups: out[n][j] is the value, or NaN
// where rejected.
template <class S, int N>
FASTINIT_INLINE void trunc_normal_first_lanes(const TruncNormalParams<float>& p,
                                              uint64_t first_group,
                                              typename S::F (&out)[N][4]) {
  using F = typename S::F;
  const F rejected = S::splat_f(NAN);
  lanes::Block<S> blocks[N];
  philox_blocks<S, N>(p.key, first_group, 0, Stream::kValues, blocks);
  if (p.method == TruncNormalParams<float>::Method::kNormal) {
    for (int n = 0; n < N; ++n) {
      F z[4];
      standard_normal_lanes<S>(blocks[n], z);
      for (int j = 0; j < 4; ++j) {
        if (p.never_rejects) {
          out[n][j] = trunc_normal_finish<S>(p, z[j]);
          continue;
        }
        const auto inside =
            (S::splat_f(p.lo) <= z[j]) & (z[j] <= S::splat_f(p.hi));
        out[n][j] = inside ? trunc_normal_finish<S>(p, z[j]) : rejected;
      }
    }
    return;
  }
  lanes::Block<S> tests[N];
  philox_blocks<S, N>(p.key, first_group, 0, Stream::kAcceptance, tests);
  for (int n = 0; n < N; ++n) {
    for (int j = 0; j < 4; ++j) {
      F z;
      const auto accepted =
          propose_uniform_or_tail<S>(p, blocks[n].x[j], tests[n].x[j], z);
      out[n][j] = accepted ? trunc_normal_finish<S>(p, z) : rejected;
    }
  }
}

// Attempt `attempt` >= 1 for N vectors of W elements with the given
// indices: out[n] holds the values, or NaN where rejected again.
template <class S, int N>
FASTINIT_INLINE void trunc_normal_retry_lanes(
    const TruncNormalParams<float>& p, const typename S::U (&index_lo)[N],
    const typename S::U (&index_hi)[N], uint32_t attempt,
    typename S::F (&out)[N], Stream stream = Stream::kValues) {
  using F = typename S::F;
  lanes::Block<S> blocks[N];
  lanes::philox_n<S, N>(p.key, index_lo, index_hi, S::splat_u(attempt),
                        S::splat_u(static_cast<uint32_t>(stream)), blocks);
  for (int n = 0; n < N; ++n) {
    F z;
    typename S::M accepted;
    if (p.method == TruncNormalParams<float>::Method::kNormal) {
      F unused;
      lanes::box_muller<S>(blocks[n].x[0], blocks[n].x[2], z, unused);
      accepted = (S::splat_f(p.lo) <= z) & (z <= S::splat_f(p.hi));
    } else {
      accepted = propose_uniform_or_tail<S>(p, blocks[n].x[0], blocks[n].x[2], z);
    }
    out[n] = accepted ? trunc_normal_finish<S>(p, z) : S::splat_f(NAN);
  }
}

// ------------------------------------------------------------ mixtures
// Note [fused mixtures]
// ~~~~~~~~~~~~~~~~~~~~~
// Element i's choice word is word i % 4 of block i / 4 of the value stream.
// * One-word mode (no normal component, every probability >= 1/256, as in
//   the d2l recipe): the top 24 bits of the word are a cell in [0, 2^24);
//   component k owns the cells [first_cell_k, first_cell_k + n_k) (its
//   cumulative probability rounded to whole cells), and the position of the
//   cell within them, (cell - first_cell_k) / n_k, is itself a uniform on
//   [0, 1), independent of the choice: it gives a uniform component's value.
//   One Philox block per four elements, like uniform_; each uniform keeps
//   24 + log2(p_k) >= 16 bits of resolution.
// * Otherwise: the choice word is compared with thresholds in units of
//   2^-32, and word i % 4 of block i / 4 of the mixture-value stream gives
//   the value: a uniform, or a normal from the Box-Muller pair it belongs to
//   (words (0, 1) and (2, 3), as normal_). A truncated-normal component
//   makes its first attempt from that normal (or, for narrow and tail
//   intervals, from the value word and word i % 4 of the acceptance
//   stream); rejected elements (NaN) are retried by mixture_retry with
//   attempt k of element i on block (i, k) of the mixture-value stream.
// One pass, no temporaries, the value a pure function of (seed, i).
// The value of component k for one vector of elements, or NaN where a
// truncated-normal first attempt is rejected. `cell` is the choice word's
// top 24 bits (one-word mode), `value_word`/`test_word` the words of the
// mixture-value and acceptance streams, `z` the element's Box-Muller normal.
template <class S>
FASTINIT_INLINE typename S::F mixture_component(const MixtureParams& p, int k,
                                                typename S::U cell,
                                                typename S::U value_word,
                                                typename S::U test_word,
                                                typename S::F z) {
  using F = typename S::F;
  switch (p.kind[k]) {
    case MixtureParams::kConstant:
      return S::splat_f(p.offset[k]);
    case MixtureParams::kUniform: {
      F u;
      if (p.one_word) {
        const F position = S::to_float(S::to_int(cell - S::splat_u(p.first_cell[k]))) *
                           S::splat_f(p.inverse_cells[k]);
        const F below_one = S::splat_f(0.99999994f);  // 1 - 2^-24
        u = below_one < position ? below_one : position;
      } else {
        u = lanes::unit_co<S>(value_word);
      }
      return u * S::splat_f(p.scale[k]) + S::splat_f(p.offset[k]);
    }
    case MixtureParams::kNormal:
      return S::splat_f(p.scale[k]) * z + S::splat_f(p.offset[k]);
    default: {  // truncated normal: the first attempt
      const TruncNormalParams<float>& t = p.trunc[k];
      F standard = z;
      typename S::M accepted;
      if (t.method == TruncNormalParams<float>::Method::kNormal) {
        accepted = (S::splat_f(t.lo) <= standard) & (standard <= S::splat_f(t.hi));
      } else {
        accepted = propose_uniform_or_tail<S>(t, value_word, test_word, standard);
      }
      return accepted ? trunc_normal_finish<S>(t, standard) : S::splat_f(NAN);
    }
  }
}

template <class S, int N>
FASTINIT_INLINE void mixture_lanes(const MixtureParams& p, uint64_t first_group,
                                   typename S::F (&out)[N][4]) {
  using F = typename S::F;
  lanes::Block<S> choices[N];
  philox_blocks<S, N>(p.key, first_group, 0, Stream::kValues, choices);
  if (p.one_word) {  // no second block, no normals: the d2l-style fast path
    for (int n = 0; n < N; ++n) {
      for (int j = 0; j < 4; ++j) {
        const typename S::U choice = choices[n].x[j];
        // From the last component to the first, so the first whose
        // threshold the choice is below wins.
        F value = mixture_component<S>(p, p.count - 1, choice >> 8, choice, choice, F{});
        for (int k = p.count - 2; k >= 0; --k) {
          value = (choice < S::splat_u(p.threshold[k]))
                      ? mixture_component<S>(p, k, choice >> 8, choice, choice, F{})
                      : value;
        }
        out[n][j] = value;
      }
    }
    return;
  }
  lanes::Block<S> values[N], tests[N];
  philox_blocks<S, N>(p.key, first_group, 0, Stream::kMixtureValues, values);
  if (p.any_test) {
    philox_blocks<S, N>(p.key, first_group, 0, Stream::kAcceptance, tests);
  }
  for (int n = 0; n < N; ++n) {
    F z[4] = {};
    if (p.any_normal) {
      standard_normal_lanes<S>(values[n], z);
    }
    for (int j = 0; j < 4; ++j) {
      const typename S::U choice = choices[n].x[j];
      const typename S::U test = p.any_test ? tests[n].x[j] : choice;
      F value = mixture_component<S>(p, p.count - 1, choice >> 8, values[n].x[j], test, z[j]);
      for (int k = p.count - 2; k >= 0; --k) {
        value = (choice < S::splat_u(p.threshold[k]))
                    ? mixture_component<S>(p, k, choice >> 8, values[n].x[j], test, z[j])
                    : value;
      }
      out[n][j] = value;
    }
  }
}

// The value of truncated-normal element `index` whose first attempt was
// rejected: attempts 1, 2, ... on block (index, attempt) of `stream`, one
// lane, then the fallback (Note [exact truncated normal]).
FASTINIT_INLINE float trunc_normal_retried(const TruncNormalParams<float>& p, uint64_t index,
                                           Stream stream) {
  const uint32_t lo[1] = {static_cast<uint32_t>(index)};
  const uint32_t hi[1] = {static_cast<uint32_t>(index >> 32)};
  for (uint32_t attempt = 1; attempt <= kTruncNormalMaxAttempts; ++attempt) {
    float value[1];
    trunc_normal_retry_lanes<ScalarLanes, 1>(p, lo, hi, attempt, value, stream);
    if (!(value[0] != value[0])) return value[0];
  }
  return trunc_normal_fallback(p);
}

// The value of mixture element `index` whose first attempt was rejected (a
// truncated-normal component): that component's retries on the
// mixture-value stream.
FASTINIT_RARE float mixture_retry(const MixtureParams& p, uint64_t index) {
  const uint32_t choice = word_of(philox_block(p.key, index / 4), index);
  int k = p.count - 1;
  for (int c = p.count - 2; c >= 0; --c) {
    if (choice < p.threshold[c]) k = c;
  }
  return trunc_normal_retried(p.trunc[k], index, Stream::kMixtureValues);
}

// ------------------------------------------------------------ float64
// Two elements per block, 53-bit uniforms; the platform's log/sin/cos.

FASTINIT_INLINE void uniform_group_f64(const UniformParams<double>& p,
                                       uint64_t group, double out[2]) {
  const PhiloxBlock r = philox_block(p.key, group);
  out[0] = unit_co_f64(r.x[0], r.x[1]) * p.range + p.low;
  out[1] = unit_co_f64(r.x[2], r.x[3]) * p.range + p.low;
}

FASTINIT_INLINE void box_muller_f64(double u1, double u2, double& z0,
                                    double& z1) {
  const double radius = ::sqrt(-2.0 * ::log(u1));
  const double theta = 6.283185307179586477 * u2;
  z0 = radius * ::cos(theta);
  z1 = radius * ::sin(theta);
}

FASTINIT_INLINE void normal_group_f64(const NormalParams<double>& p,
                                      uint64_t group, double out[2]) {
  const PhiloxBlock r = philox_block(p.key, group);
  double z[2];
  box_muller_f64(unit_oc_f64(r.x[0], r.x[1]), unit_co_f64(r.x[2], r.x[3]),
                 z[0], z[1]);
  out[0] = p.std * z[0] + p.mean;
  out[1] = p.std * z[1] + p.mean;
}

// Element i: attempt k uses block (i, k), k = 0, 1, ...
FASTINIT_INLINE double trunc_normal_element_f64(
    const TruncNormalParams<double>& p, uint64_t index) {
  using Method = TruncNormalParams<double>::Method;
  double z = p.nearest;
  for (uint32_t attempt = 0; attempt <= kTruncNormalMaxAttempts; ++attempt) {
    const PhiloxBlock r = philox_block(p.key, index, attempt);
    const double u = unit_oc_f64(r.x[0], r.x[1]);
    const double v = unit_co_f64(r.x[2], r.x[3]);
    double candidate;
    bool accepted;
    if (p.method == Method::kNormal) {
      double unused;
      box_muller_f64(u, v, candidate, unused);
      accepted = p.lo <= candidate && candidate <= p.hi;
    } else if (p.method == Method::kUniform) {
      candidate = v * (p.hi - p.lo) + p.lo;
      accepted = ::log(u) <= 0.5 * ((p.nearest - candidate) * (p.nearest + candidate));
    } else {
      candidate = p.lo - ::log(u) / p.lambda;
      const double d = candidate - p.lambda;
      accepted = candidate <= p.hi &&
                 ::log(unit_oc_f64(r.x[2], r.x[3])) <= -0.5 * (d * d);
    }
    if (accepted) {
      z = candidate;
      break;
    }
  }
  const double x = p.std * (p.sign * z) + p.mean;
  return x < p.a ? p.a : (x > p.b ? p.b : x);
}

// ---------------------------------------------------------------- sparse_
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

FASTINIT_NAMESPACE_END
