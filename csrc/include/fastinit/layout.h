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

FASTINIT_NAMESPACE_END
