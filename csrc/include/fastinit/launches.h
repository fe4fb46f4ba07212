// The kernel-argument form of a CUDA launch's destinations. Torch-free
// plain data, so that its sizes are checked on the host (tests/cpp).
//
// Note [kernel-argument launches]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Whole contiguous destinations with small parameters (every uniform,
// normal and truncated-normal fill of a model's weights) reach the GPU in
// the kernel's argument, a __grid_constant__ ArgumentBatch of at most
// kKernelArgumentBytes (the limit of every CUDA version and GPU): each
// destination's data pointer, size and parameters, and its first tile
// (Note [tiles per block]). A call over thousands of such tensors is then
// a few launches of up to kCapacity tensors, with nothing allocated or
// copied on the host, as ATen's MultiTensorApply passes its tensor lists.
// Strided destinations, shard windows and mixtures (whose parameters are
// large) keep the device table of Note [multi-tensor launches] in
// csrc/cuda/fill_kernels.cu.
#pragma once

#include <cstddef>
#include <cstdint>

#include "fastinit/macros.h"

namespace fastinit {

constexpr size_t kKernelArgumentBytes = 4096;
// Parameter structs up to this size travel in the argument (and are
// copied to registers by the kernels).
constexpr size_t kLargestArgumentParams = 96;

template <typename Params>
struct CompactDestination {
  void* data;
  int64_t numel;
  Params params;
};

template <typename Params>
struct ArgumentBatch {
  static constexpr int kCapacity =
      static_cast<int>((kKernelArgumentBytes - 2 * sizeof(int64_t)) /
                       (sizeof(CompactDestination<Params>) + sizeof(int64_t)));

  int count = 0;      // destinations in this batch
  int64_t tiles = 0;  // tiles of its launch
  int64_t first_tiles[kCapacity];
  CompactDestination<Params> destinations[kCapacity];

  // Adds a destination of `tiles_needed` tiles; false, adding nothing, when
  // the batch is full or its launch would pass `max_tiles`.
  bool add(void* data, int64_t numel, const Params& params, int64_t tiles_needed,
           int64_t max_tiles) {
    if (count == kCapacity || tiles + tiles_needed > max_tiles) return false;
    first_tiles[count] = tiles;
    destinations[count] = {data, numel, params};
    ++count;
    tiles += tiles_needed;
    return true;
  }

  void clear() {
    count = 0;
    tiles = 0;
  }
};

// Whether a fill with these parameters passes its destinations as the
// kernel's argument.
template <typename Params>
constexpr bool kPassedAsArgument = sizeof(Params) <= kLargestArgumentParams &&
                                   sizeof(ArgumentBatch<Params>) <= kKernelArgumentBytes;

}  // namespace fastinit

FASTINIT_NAMESPACE_BEGIN

// Note [tiles per block]
// ~~~~~~~~~~~~~~~~~~~~~~
// A launch covers its destinations in tiles of a fixed number of elements,
// numbered across destinations (first_tiles[k]: destination k's first).
// CUDA block b fills the tiles [b T, (b + 1) T): it finds the destination of
// its first tile once, by binary search, and walks on from there. T is 1
// while a launch's tiles fit in two waves of the GPU's resident blocks, and
// grows beyond, so that a large tensor costs one search per T tiles and the
// grid stays near the GPU's size instead of one block per tile.

// Tiles per block for `tiles` tiles on a GPU holding `resident` blocks.
constexpr int64_t tiles_per_block(int64_t tiles, int64_t resident) {
  const int64_t wanted = 2 * (resident > 0 ? resident : 1);
  return tiles <= wanted ? 1 : (tiles + wanted - 1) / wanted;
}

// The last of `count` first tiles that is <= tile.
FASTINIT_INLINE int destination_of(const int64_t* first_tiles, int count, int64_t tile) {
  int lo = 0, hi = count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (first_tiles[mid] <= tile) lo = mid; else hi = mid - 1;
  }
  return lo;
}

// visit(destination, tile within it) for the tiles of block `block`, in
// order (every destination has at least one tile).
template <typename Visit>
FASTINIT_INLINE void for_each_tile(const int64_t* first_tiles, int count, int64_t tiles,
                                   int64_t block, int64_t per_block, Visit visit) {
  const int64_t first = block * per_block;
  const int64_t end = first + per_block < tiles ? first + per_block : tiles;
  int which = first < end ? destination_of(first_tiles, count, first) : 0;
  for (int64_t tile = first; tile < end; ++tile) {
    while (which + 1 < count && first_tiles[which + 1] <= tile) ++which;
    visit(which, tile - first_tiles[which]);
  }
}

FASTINIT_NAMESPACE_END
