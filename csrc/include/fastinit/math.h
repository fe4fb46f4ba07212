// Floating-point helpers with one meaning on host and device.
//
// Note [explicit rounding]
// ~~~~~~~~~~~~~~~~~~~~~~~~
// A compiler may fuse `a * b + c` into one fused multiply-add, which rounds
// once instead of twice. nvcc does so by default and GCC does so whenever FMA
// instructions are enabled, so the same expression could give different bits
// on the CPU's scalar and AVX-512 paths and on the GPU. So the CPU build
// passes -ffp-contract=off and the CUDA build --fmad=false: every `a * b + c`
// rounds twice, and a fused multiply-add happens only where the code asks
// for one (the fma of the lane policies). The float64 transforms below also
// spell the rounding out with mul_rn/add_rn. This is what makes the values
// bit-identical on every path and device (Note [fastinit RNG contract]).
#pragma once

#include <cmath>
#include <cstdint>

#include "fastinit/macros.h"

FASTINIT_NAMESPACE_BEGIN

FASTINIT_INLINE float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

FASTINIT_INLINE double mul_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

FASTINIT_INLINE float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

FASTINIT_INLINE double add_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

// Elementary functions, overloaded on float and double; accurate to a few
// ulp, so only the normal family depends on them.
FASTINIT_INLINE float log_(float x) { return ::logf(x); }
FASTINIT_INLINE double log_(double x) { return ::log(x); }
FASTINIT_INLINE float sqrt_(float x) { return ::sqrtf(x); }
FASTINIT_INLINE double sqrt_(double x) { return ::sqrt(x); }
FASTINIT_INLINE float sin_(float x) { return ::sinf(x); }
FASTINIT_INLINE double sin_(double x) { return ::sin(x); }
FASTINIT_INLINE float cos_(float x) { return ::cosf(x); }
FASTINIT_INLINE double cos_(double x) { return ::cos(x); }

// --- From random words to numbers in the unit interval -------------------
// All of these are exact (no rounding) except where noted.

// [0, 1) with 24 bits: (x >> 8) * 2^-24.
FASTINIT_INLINE float unit_co_f32(uint32_t x) {
  return static_cast<float>(x >> 8) * 5.9604644775390625e-08f;
}

// [0, 1) with 53 bits from two words.
FASTINIT_INLINE double unit_co_f64(uint32_t hi, uint32_t lo) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 32) | lo;
  return static_cast<double>(bits >> 11) * 1.1102230246251565e-16;
}

// (0, 1], for logarithms: (x >> 1) * 2^-31 + 2^-32. The conversion and the
// addition round to nearest; the smallest value, 2^-32, bounds a Box-Muller
// normal at sqrt(64 ln 2) = 6.66 standard deviations, as cuRAND's does.
FASTINIT_INLINE float unit_oc_f32(uint32_t x) {
  return add_rn(mul_rn(static_cast<float>(static_cast<int32_t>(x >> 1)),
                       4.656612873077393e-10f),
                2.3283064365386963e-10f);
}

// (0, 1] with 53 bits from two words: (k + 1/2) * 2^-53, rounded.
FASTINIT_INLINE double unit_oc_f64(uint32_t hi, uint32_t lo) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 32) | lo;
  return add_rn(static_cast<double>(bits >> 11) * 1.1102230246251565e-16,
                5.551115123125783e-17);
}

// An integer uniform in [0, n) from 64 random bits, by the multiply-high
// method (bias below n / 2^64).
FASTINIT_INLINE uint64_t uniform_below(uint32_t hi, uint32_t lo, uint64_t n) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 32) | lo;
#ifdef __CUDA_ARCH__
  return __umul64hi(bits, n);
#else
  return static_cast<uint64_t>((static_cast<unsigned __int128>(bits) * n) >> 64);
#endif
}

template <typename T>
struct MathConstants;

template <>
struct MathConstants<float> {
  static constexpr float kTwoPi = 6.2831853071795864769f;
};

template <>
struct MathConstants<double> {
  static constexpr double kTwoPi = 6.2831853071795864769;
};

FASTINIT_NAMESPACE_END
