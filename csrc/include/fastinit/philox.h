// Philox4x32-10, the counter-based generator behind every random value in
// fastinit. Torch-free; compiles for host and device.
#pragma once

#include <cstdint>

#include "fastinit/macros.h"
#include "fastinit/params.h"
#include "fastinit/scalar_lanes.h"

FASTINIT_NAMESPACE_BEGIN

// Note [fastinit RNG contract]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Every random value fastinit writes is a pure function of
//   (seed, logical element index, distribution parameters).
//
// * The generator is Philox4x32-10 (Salmon et al., "Parallel random numbers:
//   as easy as 1, 2, 3", SC'11), the generator of cuRAND and of PyTorch's CUDA
//   backend. Key = the 64-bit seed (low word first). The 128-bit counter is
//   (block_lo, block_hi, attempt, stream): a 64-bit block index, an attempt
//   number for rejection samplers, and a stream tag separating independent
//   uses of one seed (Stream in params.h). One call returns four 32-bit
//   words.
// * The logical index of an element is its row-major position in the
//   tensor's shape, not its memory offset. A transposed, sliced or
//   channels-last destination therefore receives exactly the values of its
//   contiguous twin, and the way a fill is split across threads, chunks,
//   instruction sets or devices never changes a value.
// * Which words an element consumes is fixed per distribution and dtype,
//   never per thread (see distributions.h): a float32 uniform or normal
//   element i uses block i / 4, word i % 4; a float64 element uses block
//   i / 2, words 2 (i % 2) and 2 (i % 2) + 1; the truncated normal's
//   attempts are laid out in Note [exact truncated normal].
// * Seeds come from torch generators (the `generator=` argument, or torch's
//   default CPU generator whatever the device): one 63-bit seed per tensor
//   (the generator's next 64-bit output shifted right by one), in order. A
//   batched call over n tensors therefore equals n single calls.
// * Floating-point: every rounding is spelled out (Note [explicit rounding]
//   in math.h) and float32 log/sin/cos are our own polynomials (lanes.h), so
//   float32-computed values (float32, float16, bfloat16) are bit-identical
//   on every instruction set and device; float64 normals use the platform's
//   libm and may differ by its ulps.
// * The mapping from (seed, index, parameters) to values is versioned by
//   kStreamVersion (params.h; fastinit.STREAM_VERSION): a change to it,
//   which changes the values a seed gives, raises the version, and the
//   tests pin digests of fixed fills under the current one.
//
// fastinit reproduces torch's distributions, not torch's random stream.

struct PhiloxBlock {
  uint32_t x[4];
};

namespace philox_detail {

constexpr uint32_t kMul0 = 0xD2511F53u;
constexpr uint32_t kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u;  // golden ratio
constexpr uint32_t kWeyl1 = 0xBB67AE85u;  // sqrt(3) - 1

// One round on the state (x0, x1, x2, x3) of lanes of policy S (lanes.h;
// ScalarLanes for one counter) with round key (k0, k1).
template <class S>
FASTINIT_INLINE void round(typename S::U& x0, typename S::U& x1,
                           typename S::U& x2, typename S::U& x3,
                           typename S::U k0, typename S::U k1) {
  typename S::U hi0, lo0, hi1, lo1;
  S::mul_hi_lo(x0, kMul0, hi0, lo0);
  S::mul_hi_lo(x2, kMul1, hi1, lo1);
  x0 = hi1 ^ x1 ^ k0;
  x2 = hi0 ^ x3 ^ k1;
  x1 = lo1;
  x3 = lo0;
}

// Rounds first, first + 1, ..., 9 (all ten by default), with the key
// schedule, on N independent states advanced round by round together (so
// that their multiply chains overlap).
template <class S, int N>
FASTINIT_INLINE void rounds(PhiloxKey key, typename S::U (&x0)[N],
                            typename S::U (&x1)[N], typename S::U (&x2)[N],
                            typename S::U (&x3)[N], int first = 0) {
  uint32_t k0 = key.k0 + static_cast<uint32_t>(first) * kWeyl0;
  uint32_t k1 = key.k1 + static_cast<uint32_t>(first) * kWeyl1;
  for (int r = first; r < 10; ++r) {
    if (r > first) {
      k0 += kWeyl0;
      k1 += kWeyl1;
    }
    const typename S::U key0 = S::splat_u(k0);
    const typename S::U key1 = S::splat_u(k1);
    for (int n = 0; n < N; ++n) {
      round<S>(x0[n], x1[n], x2[n], x3[n], key0, key1);
    }
  }
}

}  // namespace philox_detail

// Philox4x32 with ten rounds on the counter (c0, c1, c2, c3).
FASTINIT_INLINE PhiloxBlock philox4x32_10(PhiloxKey key, uint32_t c0,
                                          uint32_t c1, uint32_t c2,
                                          uint32_t c3) {
  uint32_t x0[1] = {c0}, x1[1] = {c1}, x2[1] = {c2}, x3[1] = {c3};
  philox_detail::rounds<ScalarLanes, 1>(key, x0, x1, x2, x3);
  return {{x0[0], x1[0], x2[0], x3[0]}};
}

// The block `block` (attempt `attempt`) of stream `stream` under `key`.
FASTINIT_INLINE PhiloxBlock philox_block(PhiloxKey key, uint64_t block,
                                         uint32_t attempt = 0,
                                         Stream stream = Stream::kValues) {
  return philox4x32_10(key, static_cast<uint32_t>(block),
                       static_cast<uint32_t>(block >> 32), attempt,
                       static_cast<uint32_t>(stream));
}

// Word k % 4 of a block, by selects (an array indexed at run time would sit
// in a GPU's local memory).
FASTINIT_INLINE uint32_t word_of(const PhiloxBlock& block, uint64_t k) {
  const uint32_t j = static_cast<uint32_t>(k % 4);
  const uint32_t low = j == 0 ? block.x[0] : block.x[1];
  const uint32_t high = j == 2 ? block.x[2] : block.x[3];
  return j < 2 ? low : high;
}

FASTINIT_NAMESPACE_END
