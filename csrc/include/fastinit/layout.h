// From logical (row-major) element indices to memory offsets of a strided
// tensor. Torch-free; compiles for host and device.
#pragma once

#include <cstdint>

#include "fastinit/macros.h"

FASTINIT_NAMESPACE_BEGIN

// Sizes and strides of a strided tensor after coalescing (see coalesce()).
struct StridedLayout {
  static constexpr int kMaxDims = 16;

  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};

  // Builds the layout of a tensor with `ndim` dims, merging dims that are
  // contiguous with each other and dropping dims of size 1. Returns false
  // when more than kMaxDims dims remain.
  static bool coalesce(int ndim_in, const int64_t* sizes_in,
                       const int64_t* strides_in, StridedLayout& out) {
    out.ndim = 0;
    for (int d = 0; d < ndim_in; ++d) {
      if (sizes_in[d] == 1) {
        continue;
      }
      if (out.ndim > 0 && out.strides[out.ndim - 1] == sizes_in[d] * strides_in[d]) {
        out.sizes[out.ndim - 1] *= sizes_in[d];
        out.strides[out.ndim - 1] = strides_in[d];
        continue;
      }
      if (out.ndim == kMaxDims) {
        return false;
      }
      out.sizes[out.ndim] = sizes_in[d];
      out.strides[out.ndim] = strides_in[d];
      ++out.ndim;
    }
    return true;
  }

  // Memory offset (in elements) of the element with logical index `index`.
  FASTINIT_INLINE int64_t offset_of(int64_t index) const {
    int64_t offset = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      offset += (index % sizes[d]) * strides[d];
      index /= sizes[d];
    }
    return offset;
  }
};

// Walks the elements of a StridedLayout in logical order from a start index,
// one increment at a time (cheaper than offset_of per element).
class StridedCursor {
 public:
  FASTINIT_INLINE StridedCursor(const StridedLayout& layout, int64_t start)
      : layout_(layout) {
    for (int d = layout.ndim - 1; d >= 0; --d) {
      coords_[d] = start % layout.sizes[d];
      offset_ += coords_[d] * layout.strides[d];
      start /= layout.sizes[d];
    }
  }

  FASTINIT_INLINE int64_t offset() const { return offset_; }

  FASTINIT_INLINE void advance() {
    for (int d = layout_.ndim - 1; d >= 0; --d) {
      offset_ += layout_.strides[d];
      if (++coords_[d] < layout_.sizes[d]) {
        return;
      }
      offset_ -= coords_[d] * layout_.strides[d];
      coords_[d] = 0;
    }
  }

 private:
  const StridedLayout& layout_;
  int64_t coords_[StridedLayout::kMaxDims] = {};
  int64_t offset_ = 0;
};

// Note [shard windows]
// ~~~~~~~~~~~~~~~~~~~~
// A tensor can be a window into a larger logical tensor: a shard of a
// DTensor holds the elements [offset_d, offset_d + local_d) of every dim d of
// a global tensor, and must get exactly their values (Note [fastinit RNG
// contract]: values are a function of the *global* row-major index). A
// window maps the local row-major index of an element to its global one.
//
// Runs: trailing dims the window covers whole, plus the first partial dim,
// are consecutive in the global order, so the local elements come in runs
// of `run` consecutive global indices; the dims before them (coalesced,
// with global strides) say where each run starts. Shard(0) of a contiguous
// tensor is a single run at `base`; Shard(1) of a matrix is one run per
// row. A whole tensor is the window with base 0 and a single run.
struct ShardWindow {
  int64_t base = 0;     // global index of local element 0
  int64_t run = 1;      // local elements per run (>= 1)
  StridedLayout runs;   // run number -> global offset of its first element

  // The window of a `local_sizes` block at `offsets` of a `global_sizes`
  // tensor (the caller checks offsets + local sizes <= global sizes and
  // skips empty blocks). Returns false when ndim > kMaxInputDims or more
  // than StridedLayout::kMaxDims dims remain before the runs.
  static constexpr int kMaxInputDims = 64;
  static bool make(int ndim, const int64_t* local_sizes, const int64_t* global_sizes,
                   const int64_t* offsets, ShardWindow& out) {
    out = ShardWindow();
    if (ndim > kMaxInputDims) return false;
    int64_t global_strides[kMaxInputDims];
    int64_t stride = 1;
    for (int d = ndim - 1; d >= 0; --d) {
      global_strides[d] = stride;
      out.base += offsets[d] * stride;
      stride *= global_sizes[d];
    }
    int d = ndim - 1;  // after the loop: the innermost dim before the runs
    for (; d >= 0; --d) {
      out.run *= local_sizes[d];
      if (local_sizes[d] != global_sizes[d]) {
        --d;
        break;
      }
    }
    return StridedLayout::coalesce(d + 1, local_sizes, global_strides, out.runs);
  }

  // True when local and global indices coincide.
  FASTINIT_INLINE bool whole() const { return base == 0 && runs.ndim == 0; }

  FASTINIT_INLINE int64_t global_index(int64_t local) const {
    return base + runs.offset_of(local / run) + local % run;
  }
};

FASTINIT_NAMESPACE_END
