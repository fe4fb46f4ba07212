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
// for one (the fma of the lane policies). This is what makes the values
// bit-identical on every path and device (Note [fastinit RNG contract]).
#pragma once

#include <cmath>
#include <cstdint>

#include "fastinit/macros.h"

FASTINIT_NAMESPACE_BEGIN

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
  return static_cast<float>(static_cast<int32_t>(x >> 1)) * 4.656612873077393e-10f +
         2.3283064365386963e-10f;
}

// (0, 1] with 53 bits from two words: (k + 1/2) * 2^-53, rounded.
FASTINIT_INLINE double unit_oc_f64(uint32_t hi, uint32_t lo) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 32) | lo;
  return static_cast<double>(bits >> 11) * 1.1102230246251565e-16 +
         5.551115123125783e-17;
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

FASTINIT_NAMESPACE_END
