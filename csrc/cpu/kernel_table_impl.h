// The kernels of KernelTable for a lane policy S. Included once by each
// csrc/cpu/isa_*.cpp after its target pragma and policy; everything here
// lands in that unit's instruction-set namespace.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "fastinit/distributions.h"
#include "kernel_table.h"

FASTINIT_NAMESPACE_BEGIN
namespace cpu_kernels {

// How fill_by_groups writes the four vectors of a step (out[4 l + j] =
// lane l of v[j]): float32 as computed, or rounded to 16-bit words.
// convert() rounds one value the same way, for elements written one at a
// time (the retries of the truncated normal).
template <class S>
struct FloatStore {
  using T = float;
  static void store4(float* out, const typename S::F (&v)[4]) {
    S::store4(out, v[0], v[1], v[2], v[3]);
  }
  static float convert(float x) { return x; }
};

// Note [16-bit outputs]
// ~~~~~~~~~~~~~~~~~~~~~
// A bfloat16 or float16 element is the float32 element rounded once to
// nearest even. Contiguous 16-bit destinations of the uniform, normal and
// truncated normal kernels get it straight from the registers: each vector
// is rounded to 16-bit words in the low halves of its lanes
// (lanes::bfloat16_bits, or the policy's half_bits), and S::store4_16
// interleaves four of them into memory as store4 does for floats (the
// truncated normal's retries convert one value at a time). Mixtures and the
// other layouts round a float32 buffer with to_bfloat16 / to_half, the same
// roundings.
template <class S>
struct BFloat16Store {
  using T = uint16_t;
  static void store4(uint16_t* out, const typename S::F (&v)[4]) {
    S::store4_16(out, lanes::bfloat16_bits<S>(v[0]), lanes::bfloat16_bits<S>(v[1]),
                 lanes::bfloat16_bits<S>(v[2]), lanes::bfloat16_bits<S>(v[3]));
  }
  static uint16_t convert(float x) {
    return static_cast<uint16_t>(lanes::bfloat16_bits<ScalarLanes>(x));
  }
};

template <class S>
struct HalfStore {
  using T = uint16_t;
  static void store4(uint16_t* out, const typename S::F (&v)[4]) {
    S::store4_16(out, S::half_bits(v[0]), S::half_bits(v[1]), S::half_bits(v[2]),
                 S::half_bits(v[3]));
  }
  static uint16_t convert(float x) { return static_cast<uint16_t>(S::half_bits(S::splat_f(x))[0]); }
};

// Runs `lanes(first_group, F out[N][4])` (N = S::kInterleave vectors) over
// [start, start + count), writing through Store: whole steps straight into
// `out`, the last partial one through a buffer. After each step,
// `stored(offset, length, v)` sees what was written.
template <class S, class Store = FloatStore<S>, class Lanes, class Stored>
inline void fill_by_groups(int64_t start, int64_t count, typename Store::T* out,
                           Lanes lanes, Stored stored) {
  constexpr int N = S::kInterleave;
  constexpr int64_t kVector = kFloatGroup * S::kWidth;
  constexpr int64_t kStep = kVector * N;
  uint64_t group = static_cast<uint64_t>(start / kFloatGroup);
  int64_t done = 0;
  typename S::F v[N][4];
  for (; done + kStep <= count; done += kStep, group += N * S::kWidth) {
    lanes(group, v);
    for (int n = 0; n < N; ++n) {
      Store::store4(out + done + n * kVector, v[n]);
    }
    stored(done, kStep, v);
  }
  if (done < count) {
    alignas(64) typename Store::T tail[kStep];
    lanes(group, v);
    for (int n = 0; n < N; ++n) {
      Store::store4(tail + n * kVector, v[n]);
    }
    std::memcpy(out + done, tail, sizeof(typename Store::T) * (count - done));
    stored(done, count - done, v);
  }
}

template <class S, class Store = FloatStore<S>, class Lanes>
inline void fill_by_groups(int64_t start, int64_t count, typename Store::T* out,
                           Lanes lanes) {
  fill_by_groups<S, Store>(start, count, out, lanes, [](int64_t, int64_t, auto&) {});
}

template <class S, class Store = FloatStore<S>>
void uniform(const UniformParams<float>& p, int64_t start, int64_t count,
             typename Store::T* out) {
  fill_by_groups<S, Store>(start, count, out, [&](uint64_t group, auto& v) {
    uniform_lanes<S, S::kInterleave>(p, group, v);
  });
}

template <class S, class Store = FloatStore<S>>
void normal(const NormalParams<float>& p, int64_t start, int64_t count,
            typename Store::T* out) {
  fill_by_groups<S, Store>(start, count, out, [&](uint64_t group, auto& v) {
    normal_lanes<S, S::kInterleave>(p, group, v);
  });
}

template <class S>
void mixture(const MixtureParams& p, int64_t start, int64_t count, float* out) {
  fill_by_groups<S>(start, count, out, [&](uint64_t group, auto& v) {
    mixture_lanes<S, S::kInterleave>(p, group, v);
  });
  if (p.any_trunc) {  // rejected truncated-normal draws are NaN
    for (int64_t j = 0; j < count; ++j) {
      if (std::isnan(out[j])) {
        out[j] = mixture_retry(p, static_cast<uint64_t>(start + j));
      }
    }
  }
}

// The first attempt for every element in vectors, then the rejected ones
// (NaN marks them) again and again, W at a time, from a pending list.
template <class S, class Store = FloatStore<S>>
void trunc_normal(const TruncNormalParams<float>& p, int64_t start,
                  int64_t count, typename Store::T* out) {
  if (p.never_rejects) {  // no NaN to look for
    fill_by_groups<S, Store>(start, count, out, [&](uint64_t group, auto& v) {
      trunc_normal_first_lanes<S, S::kInterleave>(p, group, v);
    });
    return;
  }
  constexpr int W = S::kWidth;
  // Room for a whole vector appended at the end, and for padding a batch.
  uint32_t pending[cpu::kMaxKernelElements + S::kInterleave * W];
  int64_t num_pending = 0;
  fill_by_groups<S, Store>(
      start, count, out,
      [&](uint64_t group, auto& v) {
        trunc_normal_first_lanes<S, S::kInterleave>(p, group, v);
      },
      [&](int64_t offset, int64_t length, auto& v) {
        // NaN marks a rejection; element 4 l + j of vector n is lane l of
        // v[n][j]. Most steps reject nothing: test that first.
        typename S::M rejected = v[0][0] != v[0][0];
        for (int n = 0; n < S::kInterleave; ++n) {
          for (int j = 0; j < 4; ++j) {
            rejected = rejected | (v[n][j] != v[n][j]);
          }
        }
        if (!S::any(rejected)) {
          return;
        }
        const int64_t before = num_pending;
        for (int n = 0; n < S::kInterleave; ++n) {
          for (int j = 0; j < 4; ++j) {
            const typename S::U positions =
                S::splat_u(static_cast<uint32_t>(offset + n * kFloatGroup * W + j)) +
                S::iota() * S::splat_u(4);
            num_pending += S::append_where(pending + num_pending,
                                           v[n][j] != v[n][j], positions);
          }
        }
        if (length < kFloatGroup * W * S::kInterleave) {
          // A partial last step: drop the positions past its end.
          int64_t kept = before;
          for (int64_t k = before; k < num_pending; ++k) {
            if (pending[k] < offset + length) {
              pending[kept++] = pending[k];
            }
          }
          num_pending = kept;
        }
      });
  // Retries, N x W pending elements per Philox call.
  constexpr int N = S::kInterleave;
  constexpr int kBatch = N * W;
  const uint32_t base_lo = static_cast<uint32_t>(start);
  const uint32_t base_hi = static_cast<uint32_t>(static_cast<uint64_t>(start) >> 32);
  for (uint32_t attempt = 1;
       num_pending > 0 && attempt <= kTruncNormalMaxAttempts; ++attempt) {
    for (int64_t j = num_pending; j < num_pending + kBatch; ++j) {
      pending[j] = pending[num_pending - 1];  // pad the last batch
    }
    int64_t still_pending = 0;
    for (int64_t first = 0; first < num_pending; first += kBatch) {
      typename S::U lo[N], hi[N];
      for (int n = 0; n < N; ++n) {
        lo[n] = S::splat_u(base_lo) + S::load_u(pending + first + n * W);
        hi[n] = S::splat_u(base_hi) +
                ((lo[n] < S::splat_u(base_lo)) ? S::splat_u(1) : S::splat_u(0));
      }
      typename S::F v[N];
      trunc_normal_retry_lanes<S, N>(p, lo, hi, attempt, v);
      alignas(64) float values[kBatch];
      for (int n = 0; n < N; ++n) {
        S::store(values + n * W, v[n]);
      }
      const int64_t used = std::min<int64_t>(kBatch, num_pending - first);
      for (int64_t l = 0; l < used; ++l) {
        const uint32_t position = pending[first + l];
        if (std::isnan(values[l])) {
          pending[still_pending++] = position;
        } else {
          out[position] = Store::convert(values[l]);
        }
      }
    }
    num_pending = still_pending;
  }
  for (int64_t j = 0; j < num_pending; ++j) {
    out[pending[j]] = Store::convert(trunc_normal_fallback(p));
  }
}

// bfloat16 = the high half of the float32 bits, rounded to nearest even
// (c10::BFloat16's rounding for every non-NaN value).
inline void to_bfloat16(const float* in, int64_t count, uint16_t* out) {
  for (int64_t j = 0; j < count; ++j) {
    out[j] = static_cast<uint16_t>(lanes::bfloat16_bits<ScalarLanes>(in[j]));
  }
}

// float16 = float32 rounded to nearest even, W at a time by S::to_half.
template <class S>
void to_half(const float* in, int64_t count, uint16_t* out) {
  constexpr int W = S::kWidth;
  int64_t j = 0;
  for (; j + W <= count; j += W) {
    S::to_half(in + j, out + j);
  }
  if (j < count) {
    alignas(64) float padded[W] = {};
    uint16_t converted[W];
    std::memcpy(padded, in + j, sizeof(float) * (count - j));
    S::to_half(padded, converted);
    std::memcpy(out + j, converted, sizeof(uint16_t) * (count - j));
  }
}

// The kernel table of policy S; float16 conversions only where S has them.
template <class S>
cpu::KernelTable make_table(const char* name) {
  cpu::KernelTable table{name,        &uniform<S>,  &normal<S>, &trunc_normal<S>,
                         &mixture<S>, &to_bfloat16, nullptr};
  table.bfloat16 = {&uniform<S, BFloat16Store<S>>, &normal<S, BFloat16Store<S>>,
                    &trunc_normal<S, BFloat16Store<S>>};
  if constexpr (requires(const float* in, uint16_t* out, typename S::F x) {
                  S::to_half(in, out);
                  S::half_bits(x);
                }) {
    table.to_half = &to_half<S>;
    table.half = {&uniform<S, HalfStore<S>>, &normal<S, HalfStore<S>>,
                  &trunc_normal<S, HalfStore<S>>};
  }
  return table;
}

}  // namespace cpu_kernels
FASTINIT_NAMESPACE_END
