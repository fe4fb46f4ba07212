// The kernels for AVX2 + FMA CPUs: eight lanes.
// System headers come before the target pragma, our headers after it
// (Note [instruction-set namespaces] in fastinit/macros.h).
#define FASTINIT_ISA avx2

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include <immintrin.h>

#include "fastinit/params.h"
#include "kernel_table.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi,bmi2,popcnt")

#include "kernel_table_impl.h"

FASTINIT_NAMESPACE_BEGIN
namespace {

// For each 8-bit mask, the indices of its set bits, packed to the front.
struct PackOrder {
  uint8_t lanes[256][8];
};

constexpr PackOrder make_pack_order() {
  PackOrder table{};
  for (int mask = 0; mask < 256; ++mask) {
    int k = 0;
    for (int lane = 0; lane < 8; ++lane) {
      if (mask & (1 << lane)) {
        table.lanes[mask][k++] = static_cast<uint8_t>(lane);
      }
    }
  }
  return table;
}

constexpr PackOrder kPackOrder = make_pack_order();

struct Avx2Lanes {
  static constexpr int kWidth = 8;
  typedef uint32_t U __attribute__((vector_size(32)));
  typedef int32_t I __attribute__((vector_size(32)));
  using M = I;  // comparison results: all ones where true
  // Independent vectors per Philox call. Four chains spill some of their
  // 16 registers, yet beat two (-10% time per element on Zen 3) and three.
  static constexpr int kInterleave = 4;
  typedef float F __attribute__((vector_size(32)));

  static U splat_u(uint32_t x) { return U{} + x; }
  static I splat_i(int32_t x) { return I{} + x; }
  static F splat_f(float x) { return F{} + x; }
  static U iota() { return U{0, 1, 2, 3, 4, 5, 6, 7}; }

  // 32 x 32 -> 64-bit products of the even and the odd lanes; the high
  // halves recombined by a blend, the low halves from vpmulld (one
  // instruction instead of a shift and a blend: 7% faster Philox on Zen 3).
  static void mul_hi_lo(U a, uint32_t b, U& hi, U& lo) {
    const __m256i factor = _mm256_set1_epi32(static_cast<int>(b));
    const __m256i even = _mm256_mul_epu32(__m256i(a), factor);
    const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(__m256i(a), 32), factor);
    hi = U(_mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA));
    lo = U(_mm256_mullo_epi32(__m256i(a), factor));
  }

  static F fma(F a, F b, F c) { return F(_mm256_fmadd_ps(__m256(a), __m256(b), __m256(c))); }
  static F sqrt(F x) { return F(_mm256_sqrt_ps(__m256(x))); }
  static F to_float(I x) { return __builtin_convertvector(x, F); }
  static I truncate(F x) { return __builtin_convertvector(x, I); }
  static I to_int(U x) { return I(x); }
  static U to_uint(I x) { return U(x); }
  static F bits_to_float(U x) { return F(x); }
  static U float_bits(F x) { return U(x); }

  static bool any(M m) { return _mm256_movemask_ps(__m256(m)) != 0; }

  // Writes the lanes of `values` where `where` holds to dst[0, k), packed,
  // and returns k; may write up to kWidth entries.
  static int append_where(uint32_t* dst, M where, U values) {
    const int mask = _mm256_movemask_ps(__m256(where));
    const __m256i order = _mm256_cvtepu8_epi32(
        _mm_loadl_epi64(reinterpret_cast<const __m128i*>(kPackOrder.lanes[mask])));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst),
                        _mm256_permutevar8x32_epi32(__m256i(values), order));
    return __builtin_popcount(mask);
  }


  // float16 bits of W floats, nearest even.
  static void to_half(const float* in, uint16_t* out) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in), _MM_FROUND_TO_NEAREST_INT));
  }

  // float16 bits of x, nearest even, in the low halves of the lanes.
  static U half_bits(F x) {
    return U(_mm256_cvtepu16_epi32(_mm256_cvtps_ph(__m256(x), _MM_FROUND_TO_NEAREST_INT)));
  }

  static U load_u(const uint32_t* p) {
    return U(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static void store(float* p, F x) { _mm256_storeu_ps(p, __m256(x)); }

  // A 4 x 8 transpose: out[4 l + j] = x_j[l].
  static void store4(float* out, F x0, F x1, F x2, F x3) {
    const __m256 t0 = _mm256_unpacklo_ps(__m256(x0), __m256(x1));
    const __m256 t1 = _mm256_unpackhi_ps(__m256(x0), __m256(x1));
    const __m256 t2 = _mm256_unpacklo_ps(__m256(x2), __m256(x3));
    const __m256 t3 = _mm256_unpackhi_ps(__m256(x2), __m256(x3));
    // 128-bit half h of u_k holds group 4 h + k
    const __m256 u0 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2)));
    const __m256 u1 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2)));
    const __m256 u2 = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3)));
    const __m256 u3 = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3)));
    _mm256_storeu_ps(out, _mm256_permute2f128_ps(u0, u1, 0x20));
    _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(u2, u3, 0x20));
    _mm256_storeu_ps(out + 16, _mm256_permute2f128_ps(u0, u1, 0x31));
    _mm256_storeu_ps(out + 24, _mm256_permute2f128_ps(u2, u3, 0x31));
  }

  // The same for 16-bit words in the low halves of the lanes (upper halves
  // zero): pairs (4 l, 4 l + 1) and (4 l + 2, 4 l + 3) share a 32-bit lane,
  // then 32-bit lanes interleave.
  static void store4_16(uint16_t* out, U h0, U h1, U h2, U h3) {
    const __m256i pairs01 = __m256i(h0 | (h1 << 16));
    const __m256i pairs23 = __m256i(h2 | (h3 << 16));
    const __m256i low = _mm256_unpacklo_epi32(pairs01, pairs23);   // lanes 0, 1 | 4, 5
    const __m256i high = _mm256_unpackhi_epi32(pairs01, pairs23);  // lanes 2, 3 | 6, 7
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_permute2x128_si256(low, high, 0x20));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 16),
                        _mm256_permute2x128_si256(low, high, 0x31));
  }
};

}  // namespace
FASTINIT_NAMESPACE_END

namespace fastinit::cpu {

const KernelTable& avx2_kernels() {
  static const KernelTable table =
      avx2::cpu_kernels::make_table<avx2::Avx2Lanes>("avx2");
  return table;
}

}  // namespace fastinit::cpu

#pragma GCC pop_options
