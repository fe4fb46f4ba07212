// The one-lane policy for the templates of lanes.h and distributions.h: the
// portable CPU kernels and every CUDA thread use it.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "fastinit/macros.h"

FASTINIT_NAMESPACE_BEGIN

struct ScalarLanes {
  static constexpr int kWidth = 1;
  static constexpr int kInterleave = 1;
  using U = uint32_t;
  using I = int32_t;
  using F = float;
  using M = bool;

  static FASTINIT_INLINE U splat_u(uint32_t x) { return x; }
  static FASTINIT_INLINE I splat_i(int32_t x) { return x; }
  static FASTINIT_INLINE F splat_f(float x) { return x; }
  static FASTINIT_INLINE U iota() { return 0; }

  static FASTINIT_INLINE void mul_hi_lo(U a, uint32_t b, U& hi, U& lo) {
    const uint64_t product = static_cast<uint64_t>(a) * b;
    hi = static_cast<uint32_t>(product >> 32);
    lo = static_cast<uint32_t>(product);
  }

  static FASTINIT_INLINE F fma(F a, F b, F c) {
#ifdef __CUDA_ARCH__
    return __fmaf_rn(a, b, c);
#else
    return std::fma(a, b, c);
#endif
  }

  static FASTINIT_INLINE F sqrt(F x) {
#ifdef __CUDA_ARCH__
    return __fsqrt_rn(x);
#else
    return std::sqrt(x);
#endif
  }

  static FASTINIT_INLINE F to_float(I x) { return static_cast<float>(x); }
  static FASTINIT_INLINE I truncate(F x) { return static_cast<int32_t>(x); }
  static FASTINIT_INLINE I to_int(U x) { return static_cast<int32_t>(x); }
  static FASTINIT_INLINE U to_uint(I x) { return static_cast<uint32_t>(x); }

  static FASTINIT_INLINE F bits_to_float(U x) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(x);
#else
    F f;
    std::memcpy(&f, &x, sizeof(f));
    return f;
#endif
  }

  static FASTINIT_INLINE U float_bits(F x) {
#ifdef __CUDA_ARCH__
    return __float_as_uint(x);
#else
    U u;
    std::memcpy(&u, &x, sizeof(u));
    return u;
#endif
  }

  static FASTINIT_INLINE bool any(M m) { return m; }

  // Writes `value` to dst[0] and returns 1 where `where` holds, else 0.
  static FASTINIT_INLINE int append_where(uint32_t* dst, M where, U value) {
    *dst = value;
    return where ? 1 : 0;
  }

  static FASTINIT_INLINE U load_u(const uint32_t* p) { return *p; }
  static FASTINIT_INLINE void store(float* p, F x) { *p = x; }

  // out[4 * lane + j] = x_j[lane]
  static FASTINIT_INLINE void store4(float* out, F x0, F x1, F x2, F x3) {
    out[0] = x0;
    out[1] = x1;
    out[2] = x2;
    out[3] = x3;
  }

  // The same for 16-bit words held in the low halves of the lanes.
  static FASTINIT_INLINE void store4_16(uint16_t* out, U h0, U h1, U h2, U h3) {
    out[0] = static_cast<uint16_t>(h0);
    out[1] = static_cast<uint16_t>(h1);
    out[2] = static_cast<uint16_t>(h2);
    out[3] = static_cast<uint16_t>(h3);
  }
};

FASTINIT_NAMESPACE_END
