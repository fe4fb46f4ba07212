// The kernel-argument form of a CUDA launch's destinations. Torch-free
// plain data, so that its sizes are checked on the host (tests/cpp).
//
// Note [kernel-argument launches]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Whole contiguous destinations with small parameters (every uniform,
// normal and truncated-normal fill of a model's weights) reach the GPU in
// the kernel's argument, a __grid_constant__ ArgumentBatch of at most
// kKernelArgumentBytes (the limit of every CUDA version and GPU): each
// destination's data pointer, size and parameters, and its first CUDA
// block. A call over thousands of such tensors is then a few launches of up
// to kCapacity tensors, with nothing allocated or copied on the host, as
// ATen's MultiTensorApply passes its tensor lists. Strided destinations,
// shard windows and mixtures (whose parameters are large) keep the device
// table of Note [multi-tensor launches] in csrc/cuda/fill_kernels.cu.
#pragma once

#include <cstddef>
#include <cstdint>

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

  int count = 0;       // destinations in this batch
  int64_t blocks = 0;  // CUDA blocks of its launch
  int64_t first_blocks[kCapacity];
  CompactDestination<Params> destinations[kCapacity];

  // Adds a destination needing `blocks_needed` CUDA blocks; false, adding
  // nothing, when the batch is full or its launch would pass `max_blocks`.
  bool add(void* data, int64_t numel, const Params& params, int64_t blocks_needed,
           int64_t max_blocks) {
    if (count == kCapacity || blocks + blocks_needed > max_blocks) return false;
    first_blocks[count] = blocks;
    destinations[count] = {data, numel, params};
    ++count;
    blocks += blocks_needed;
    return true;
  }

  void clear() {
    count = 0;
    blocks = 0;
  }
};

// Whether a fill with these parameters passes its destinations as the
// kernel's argument.
template <typename Params>
constexpr bool kPassedAsArgument = sizeof(Params) <= kLargestArgumentParams &&
                                   sizeof(ArgumentBatch<Params>) <= kKernelArgumentBytes;

}  // namespace fastinit
