// The float32 random transforms, written once for any number of lanes.
//
// Note [one implementation for every instruction set]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Every function here is a template over a lane policy S that supplies
//   S::kWidth, S::kInterleave    lanes per vector; vectors per Philox call
//   S::U, S::I, S::F, S::M       uint32, int32 and float lanes (a scalar, or a
//                                GCC vector of 8 or 16 lanes) and the type of
//                                comparison results
//   S::splat_u/i/f, S::mul_hi_lo, S::fma, S::sqrt, S::to_float (int32 ->
//   float, rounded), S::truncate (float -> int32 toward zero), and the
//   reinterpretations S::bits_to_float, S::float_bits, S::to_int (uint32 ->
//   int32), S::to_uint (int32 -> uint32); S::any (a comparison holds in some
//   lane), S::append_where (packs the lanes where it holds into memory), S::load_u, S::store and S::store4 (memory)
// plus the operators +, -, *, /, &, |, ^, >>, <, <= and ?: that scalars and
// GCC vectors share. The CPU instantiates it for its scalar, AVX2 and AVX-512
// policies (csrc/cpu/), CUDA for its per-thread scalar policy. Each step is
// an IEEE operation with one defined result (fma included, and no
// contraction: Note [explicit rounding] in math.h), so all of them produce
// the same bits, and log/sin/cos are our own polynomials rather than the
// platform's libm.
//
// A policy must be declared in a namespace of its own per instruction set
// (templates here are instantiated once per policy, never shared across
// translation units compiled with different target flags).
#pragma once

#include <cstdint>

#include "fastinit/macros.h"
#include "fastinit/philox.h"

FASTINIT_NAMESPACE_BEGIN
namespace lanes {

template <class S>
struct Block {
  typename S::U x[4];
};

// Philox4x32-10 on N x W counters at once (W = S::kWidth): N independent
// vectors (philox_detail::rounds). Same bits as philox4x32_10, lane by lane.
template <class S, int N>
FASTINIT_INLINE void philox_n(PhiloxKey key, const typename S::U (&c0)[N],
                              const typename S::U (&c1)[N], typename S::U c2,
                              typename S::U c3, Block<S> (&out)[N]) {
  using U = typename S::U;
  U x0[N], x1[N], x2[N], x3[N];
  for (int n = 0; n < N; ++n) {
    x0[n] = c0[n];
    x1[n] = c1[n];
    x2[n] = c2;
    x3[n] = c3;
  }
  philox_detail::rounds<S, N>(key, x0, x1, x2, x3);
  for (int n = 0; n < N; ++n) {
    out[n] = {{x0[n], x1[n], x2[n], x3[n]}};
  }
}

// Note [counters that differ in one word]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The counters of a fill's vectors usually differ only in word 0, the low
// half of the block index: the high half is shared unless the vectors cross
// a multiple of 2^32 blocks, and the attempt and stream words are always
// shared. Then half of the first two rounds is the same in every lane:
// round 1 multiplies x2 (the attempt) and round 2 multiplies round 1's
// x0 = hi(M1 * attempt) ^ block_hi ^ k0. Both products are computed once
// per call on scalars: 2 of the 20 vector multiplications per block fewer,
// with the bits of philox_n (the round function is only split by lanes).
template <class S, int N>
FASTINIT_INLINE void philox_n_shared(PhiloxKey key,
                                     const typename S::U (&c0)[N],
                                     uint32_t c1, uint32_t c2, uint32_t c3,
                                     Block<S> (&out)[N]) {
  using philox_detail::kMul0;
  using philox_detail::kMul1;
  using U = typename S::U;
  U x0[N], x1[N], x2[N], x3[N];
  // Round 1: x0 varies, the product of x2 is shared.
  uint32_t hi, lo;
  ScalarLanes::mul_hi_lo(c2, kMul1, hi, lo);
  const uint32_t shared_x0 = hi ^ c1 ^ key.k0;
  const uint32_t shared_x1 = lo;
  for (int n = 0; n < N; ++n) {
    U hi0, lo0;
    S::mul_hi_lo(c0[n], kMul0, hi0, lo0);
    x2[n] = hi0 ^ S::splat_u(c3 ^ key.k1);
    x3[n] = lo0;
  }
  // Round 2: the product of x0 is shared, x2 varies.
  const uint32_t k0 = key.k0 + philox_detail::kWeyl0;
  const uint32_t k1 = key.k1 + philox_detail::kWeyl1;
  ScalarLanes::mul_hi_lo(shared_x0, kMul0, hi, lo);
  for (int n = 0; n < N; ++n) {
    U hi1, lo1;
    S::mul_hi_lo(x2[n], kMul1, hi1, lo1);
    x0[n] = hi1 ^ S::splat_u(shared_x1 ^ k0);
    x2[n] = x3[n] ^ S::splat_u(hi ^ k1);
    x1[n] = lo1;
    x3[n] = S::splat_u(lo);
  }
  philox_detail::rounds<S, N>(key, x0, x1, x2, x3, /*first=*/2);
  for (int n = 0; n < N; ++n) {
    out[n] = {{x0[n], x1[n], x2[n], x3[n]}};
  }
}

template <class S>
FASTINIT_INLINE Block<S> philox(PhiloxKey key, typename S::U c0,
                                typename S::U c1, typename S::U c2,
                                typename S::U c3) {
  const typename S::U low[1] = {c0};
  const typename S::U high[1] = {c1};
  Block<S> out[1];
  philox_n<S, 1>(key, low, high, c2, c3, out);
  return out[0];
}

// [0, 1): (x >> 8) * 2^-24, exact; equals unit_co_f32 in math.h.
template <class S>
FASTINIT_INLINE typename S::F unit_co(typename S::U x) {
  return S::to_float(S::to_int(x >> 8)) * S::splat_f(5.9604644775390625e-08f);
}

// bfloat16 bits of x, rounded to nearest even (the high half of the float32
// bits after adding 0x7fff and the lowest kept bit), in the low 16 bits of
// each lane. The NaNs arithmetic produces (0x7fc00000, and x86's default
// 0xffc00000) stay NaN, where c10 gives 0x7fc0 for every NaN; payloads only
// in the low half would round to infinity, and 0xffff8000 and above wrap to
// zero.
template <class S>
FASTINIT_INLINE typename S::U bfloat16_bits(typename S::F x) {
  const typename S::U bits = S::float_bits(x);
  return (bits + S::splat_u(0x7fffu) + ((bits >> 16) & S::splat_u(1))) >> 16;
}

// (0, 1]: (x >> 1) * 2^-31 + 2^-32; equals unit_oc_f32 in math.h.
template <class S>
FASTINIT_INLINE typename S::F unit_oc(typename S::U x) {
  return S::to_float(S::to_int(x >> 1)) * S::splat_f(4.656612873077393e-10f) +
         S::splat_f(2.3283064365386963e-10f);
}

// (0, 1) symmetric about 1/2: (2 (x >> 9) + 1) * 2^-24, exact. Box-Muller
// angles come from here, so that cos and sin are never exactly zero and a
// normal is never exactly 0.
template <class S>
FASTINIT_INLINE typename S::F unit_centered(typename S::U x) {
  return S::to_float(S::to_int(((x >> 9) << 1) | S::splat_u(1))) *
         S::splat_f(5.9604644775390625e-08f);
}

// Natural logarithm for u in [2^-32, 1] (normal, positive floats), within
// about 1 ulp: u = 2^e m with m in [sqrt(1/2), sqrt(2)), and
// log m = 2 atanh(s) = 2 (s + s^3/3 + ... + s^11/11), s = (m - 1)/(m + 1),
// |s| <= 0.172, truncation error below 1e-10.
template <class S>
FASTINIT_INLINE typename S::F log_unit(typename S::F u) {
  using U = typename S::U;
  using I = typename S::I;
  using F = typename S::F;
  const U bits = S::float_bits(u);
  I exponent = S::to_int(bits >> 23) - S::splat_i(127);
  F m = S::bits_to_float((bits & S::splat_u(0x007fffffu)) |
                         S::splat_u(0x3f800000u));
  const auto above = S::splat_f(1.41421356f) < m;
  m = above ? m * S::splat_f(0.5f) : m;  // exact
  exponent = above ? exponent + S::splat_i(1) : exponent;
  const F s = (m - S::splat_f(1.0f)) / (m + S::splat_f(1.0f));
  const F s2 = s * s;
  F p = S::fma(s2, S::splat_f(1.0f / 11), S::splat_f(1.0f / 9));
  p = S::fma(p, s2, S::splat_f(1.0f / 7));
  p = S::fma(p, s2, S::splat_f(1.0f / 5));
  p = S::fma(p, s2, S::splat_f(1.0f / 3));
  const F two_s = s + s;
  const F log_m = S::fma(two_s * s2, p, two_s);
  return S::fma(S::to_float(exponent), S::splat_f(0.693147180559945309f), log_m);
}

// sin(2 pi u) and cos(2 pi u) for u in [0, 1) with at most 24 fraction bits
// (as from unit_centered or unit_co). u = q/4 + t, q = floor(4u + 1/2), t
// exact and |t| <= 1/8 (+ 2^-24 where 4u + 1/2 rounds up to an integer); then
// Taylor polynomials in t (|2 pi t| <= pi/4: truncation below 2e-9) and the
// quadrant's symmetry.
template <class S>
FASTINIT_INLINE void sincos_2pi(typename S::F u, typename S::F& sin_out,
                                typename S::F& cos_out) {
  using U = typename S::U;
  using I = typename S::I;
  using F = typename S::F;
  const I q = S::truncate(S::fma(u, S::splat_f(4.0f), S::splat_f(0.5f)));
  const F t = S::fma(S::to_float(q), S::splat_f(-0.25f), u);
  const F t2 = t * t;
  // Taylor coefficients (-1)^k (2 pi)^(2k+1) / (2k+1)! and
  // (-1)^k (2 pi)^(2k) / (2k)!; the first omitted terms are below 1e-10.
  F sp = S::fma(t2, S::splat_f(-15.0946426f), S::splat_f(42.0586939f));
  sp = S::fma(sp, t2, S::splat_f(-76.7058598f));
  sp = S::fma(sp, t2, S::splat_f(81.6052493f));
  sp = S::fma(sp, t2, S::splat_f(-41.3417022f));
  sp = S::fma(sp, t2, S::splat_f(6.28318531f));
  const F sin_t = sp * t;
  F cp = S::fma(t2, S::splat_f(7.90353637f), S::splat_f(-26.4262568f));
  cp = S::fma(cp, t2, S::splat_f(60.2446414f));
  cp = S::fma(cp, t2, S::splat_f(-85.4568172f));
  cp = S::fma(cp, t2, S::splat_f(64.9393940f));
  cp = S::fma(cp, t2, S::splat_f(-19.7392088f));
  const F cos_t = S::fma(cp, t2, S::splat_f(1.0f));
  const U quadrant = S::to_uint(q);
  const auto odd = (quadrant & S::splat_u(1)) != S::splat_u(0);
  const F sin_r = odd ? cos_t : sin_t;
  const F cos_r = odd ? sin_t : cos_t;
  const U sin_sign = (quadrant & S::splat_u(2)) << 30;
  const U cos_sign = ((quadrant + S::splat_u(1)) & S::splat_u(2)) << 30;
  sin_out = S::bits_to_float(S::float_bits(sin_r) ^ sin_sign);
  cos_out = S::bits_to_float(S::float_bits(cos_r) ^ cos_sign);
}

// Box-Muller: two standard normals from two random words.
template <class S>
FASTINIT_INLINE void box_muller(typename S::U radius_word,
                                typename S::U angle_word, typename S::F& z0,
                                typename S::F& z1) {
  using F = typename S::F;
  const F radius =
      S::sqrt(S::splat_f(-2.0f) * log_unit<S>(unit_oc<S>(radius_word)));
  F sin_a, cos_a;
  sincos_2pi<S>(unit_centered<S>(angle_word), sin_a, cos_a);
  z0 = radius * cos_a;
  z1 = radius * sin_a;
}

}  // namespace lanes
FASTINIT_NAMESPACE_END
