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

// Runs `lanes(first_group, F out[4])` over [start, start + count): whole
// vectors straight into `out`, the last partial one through a buffer.
template <class S, class Lanes>
inline void fill_by_groups(int64_t start, int64_t count, float* out,
                           Lanes lanes) {
  constexpr int64_t kStep = kFloatGroup * S::kWidth;
  uint64_t group = static_cast<uint64_t>(start / kFloatGroup);
  int64_t done = 0;
  typename S::F v[4];
  for (; done + kStep <= count; done += kStep, group += S::kWidth) {
    lanes(group, v);
    S::store4(out + done, v[0], v[1], v[2], v[3]);
  }
  if (done < count) {
    alignas(64) float tail[kStep];
    lanes(group, v);
    S::store4(tail, v[0], v[1], v[2], v[3]);
    std::memcpy(out + done, tail, sizeof(float) * (count - done));
  }
}

template <class S>
void uniform(const UniformParams<float>& p, int64_t start, int64_t count,
             float* out) {
  fill_by_groups<S>(start, count, out, [&](uint64_t group, typename S::F* v) {
    uniform_lanes<S>(p, group, v);
  });
}

template <class S>
void normal(const NormalParams<float>& p, int64_t start, int64_t count,
            float* out) {
  fill_by_groups<S>(start, count, out, [&](uint64_t group, typename S::F* v) {
    normal_lanes<S>(p, group, v);
  });
}

// The first attempt for every element in vectors, then the rejected ones
// (NaN marks them) again and again, W at a time, from a pending list.
template <class S>
void trunc_normal(const TruncNormalParams<float>& p, int64_t start,
                  int64_t count, float* out) {
  constexpr int W = S::kWidth;
  fill_by_groups<S>(start, count, out, [&](uint64_t group, typename S::F* v) {
    trunc_normal_first_lanes<S>(p, group, v);
  });
  uint32_t pending[cpu::kMaxKernelElements + W];
  int64_t num_pending = 0;
  for (int64_t j = 0; j < count; ++j) {
    if (std::isnan(out[j])) {
      pending[num_pending++] = static_cast<uint32_t>(j);
    }
  }
  const uint32_t base_lo = static_cast<uint32_t>(start);
  const uint32_t base_hi = static_cast<uint32_t>(static_cast<uint64_t>(start) >> 32);
  for (uint32_t attempt = 1;
       num_pending > 0 && attempt <= kTruncNormalMaxAttempts; ++attempt) {
    for (int64_t j = num_pending; j < num_pending + W; ++j) {
      pending[j] = pending[num_pending - 1];  // pad the last vector
    }
    int64_t still_pending = 0;
    for (int64_t first = 0; first < num_pending; first += W) {
      const typename S::U offset = S::load_u(pending + first);
      const typename S::U lo = S::splat_u(base_lo) + offset;
      const typename S::U hi =
          S::splat_u(base_hi) +
          ((lo < S::splat_u(base_lo)) ? S::splat_u(1) : S::splat_u(0));
      alignas(64) float values[W];
      S::store(values, trunc_normal_retry_lanes<S>(p, lo, hi, attempt));
      const int64_t lanes_used = std::min<int64_t>(W, num_pending - first);
      for (int64_t l = 0; l < lanes_used; ++l) {
        const uint32_t position = pending[first + l];
        if (std::isnan(values[l])) {
          pending[still_pending++] = position;
        } else {
          out[position] = values[l];
        }
      }
    }
    num_pending = still_pending;
  }
  for (int64_t j = 0; j < num_pending; ++j) {
    out[pending[j]] = trunc_normal_fallback(p);
  }
}

// bfloat16 = the high half of the float32 bits, rounded to nearest even
// (c10::BFloat16's rounding for every non-NaN value).
inline void to_bfloat16(const float* in, int64_t count, uint16_t* out) {
  for (int64_t j = 0; j < count; ++j) {
    uint32_t bits;
    std::memcpy(&bits, in + j, sizeof(bits));
    out[j] = static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  }
}

}  // namespace cpu_kernels
FASTINIT_NAMESPACE_END
