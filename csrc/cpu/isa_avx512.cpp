// The kernels for AVX-512 (F, BW, DQ, VL) CPUs: sixteen lanes.
// System headers come before the target pragma, our headers after it
// (Note [instruction-set namespaces] in fastinit/macros.h).
#define FASTINIT_ISA avx512

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include <immintrin.h>

#include "fastinit/params.h"
#include "kernel_table.h"

#pragma GCC push_options
// GCC 12 reports the deliberately undefined registers inside its own
// AVX-512 intrinsics (_mm512_undefined_*) as uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,bmi,bmi2,popcnt")

#include "kernel_table_impl.h"

FASTINIT_NAMESPACE_BEGIN
namespace {

struct Avx512Lanes {
  static constexpr int kWidth = 16;
  typedef uint32_t U __attribute__((vector_size(64)));
  typedef int32_t I __attribute__((vector_size(64)));
  using M = I;  // comparison results: all ones where true
  // Independent vectors per Philox call (registers allow 4 chains).
  static constexpr int kInterleave = 4;
  typedef float F __attribute__((vector_size(64)));

  static U splat_u(uint32_t x) { return U{} + x; }
  static I splat_i(int32_t x) { return I{} + x; }
  static F splat_f(float x) { return F{} + x; }
  static U iota() { return U{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}; }

  // 32 x 32 -> 64-bit products of the even and the odd lanes, recombined.
  static void mul_hi_lo(U a, uint32_t b, U& hi, U& lo) {
    const __m512i factor = _mm512_set1_epi32(static_cast<int>(b));
    const __m512i even = _mm512_mul_epu32(__m512i(a), factor);
    const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(__m512i(a), 32), factor);
    hi = U(_mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd));
    lo = U(_mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32)));
  }

  static F fma(F a, F b, F c) { return F(_mm512_fmadd_ps(__m512(a), __m512(b), __m512(c))); }
  static F sqrt(F x) { return F(_mm512_sqrt_ps(__m512(x))); }
  static F to_float(I x) { return __builtin_convertvector(x, F); }
  static I truncate(F x) { return __builtin_convertvector(x, I); }
  static I to_int(U x) { return I(x); }
  static U to_uint(I x) { return U(x); }
  static F bits_to_float(U x) { return F(x); }
  static U float_bits(F x) { return U(x); }

  static bool any(M m) { return _mm512_movepi32_mask(__m512i(m)) != 0; }

  // Writes the lanes of `values` where `where` holds to dst[0, k), packed,
  // and returns k; may write up to kWidth entries. (Compress in a register:
  // the memory form of vpcompressd is slow on AMD.)
  static int append_where(uint32_t* dst, M where, U values) {
    const __mmask16 mask = _mm512_movepi32_mask(__m512i(where));
    _mm512_storeu_si512(dst, _mm512_maskz_compress_epi32(mask, __m512i(values)));
    return __builtin_popcount(mask);
  }

  // float16 bits of W floats, nearest even.
  static void to_half(const float* in, uint16_t* out) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                        _mm512_cvtps_ph(_mm512_loadu_ps(in), _MM_FROUND_TO_NEAREST_INT));
  }

  // float16 bits of x, nearest even, in the low halves of the lanes.
  static U half_bits(F x) {
    return U(_mm512_cvtepu16_epi32(_mm512_cvtps_ph(__m512(x), _MM_FROUND_TO_NEAREST_INT)));
  }

  static U load_u(const uint32_t* p) { return U(_mm512_loadu_si512(p)); }
  static void store(float* p, F x) { _mm512_storeu_ps(p, __m512(x)); }

  // A 4 x 16 transpose: out[4 l + j] = x_j[l].
  static void store4(float* out, F x0, F x1, F x2, F x3) {
    const __m512 t0 = _mm512_unpacklo_ps(__m512(x0), __m512(x1));
    const __m512 t1 = _mm512_unpackhi_ps(__m512(x0), __m512(x1));
    const __m512 t2 = _mm512_unpacklo_ps(__m512(x2), __m512(x3));
    const __m512 t3 = _mm512_unpackhi_ps(__m512(x2), __m512(x3));
    // 128-bit lane L of u_k holds group 4 L + k
    const __m512 u0 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
    const __m512 u1 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
    const __m512 u2 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
    const __m512 u3 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
    // then a 4 x 4 transpose of 128-bit lanes
    const __m512 v0 = _mm512_shuffle_f32x4(u0, u1, 0x44);
    const __m512 v1 = _mm512_shuffle_f32x4(u2, u3, 0x44);
    const __m512 v2 = _mm512_shuffle_f32x4(u0, u1, 0xEE);
    const __m512 v3 = _mm512_shuffle_f32x4(u2, u3, 0xEE);
    _mm512_storeu_ps(out, _mm512_shuffle_f32x4(v0, v1, 0x88));
    _mm512_storeu_ps(out + 16, _mm512_shuffle_f32x4(v0, v1, 0xDD));
    _mm512_storeu_ps(out + 32, _mm512_shuffle_f32x4(v2, v3, 0x88));
    _mm512_storeu_ps(out + 48, _mm512_shuffle_f32x4(v2, v3, 0xDD));
  }

  // The same for 16-bit words in the low halves of the lanes (upper halves
  // zero): pairs (4 l, 4 l + 1) and (4 l + 2, 4 l + 3) share a 32-bit lane,
  // 32-bit lanes interleave within 128-bit blocks, then the blocks of the two
  // halves alternate.
  static void store4_16(uint16_t* out, U h0, U h1, U h2, U h3) {
    const __m512i pairs01 = __m512i(h0 | (h1 << 16));
    const __m512i pairs23 = __m512i(h2 | (h3 << 16));
    const __m512i low = _mm512_unpacklo_epi32(pairs01, pairs23);   // lanes 4k, 4k + 1
    const __m512i high = _mm512_unpackhi_epi32(pairs01, pairs23);  // lanes 4k + 2, 4k + 3
    const __m512i first = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
    const __m512i second = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
    _mm512_storeu_si512(out, _mm512_permutex2var_epi64(low, first, high));
    _mm512_storeu_si512(out + 32, _mm512_permutex2var_epi64(low, second, high));
  }
};

}  // namespace
FASTINIT_NAMESPACE_END

namespace fastinit::cpu {

const KernelTable& avx512_kernels() {
  static const KernelTable table =
      avx512::cpu_kernels::make_table<avx512::Avx512Lanes>("avx512");
  return table;
}

}  // namespace fastinit::cpu

#pragma GCC diagnostic pop
#pragma GCC pop_options
