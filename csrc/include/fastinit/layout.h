// From logical (row-major) element indices to memory offsets of a strided
// tensor. Torch-free; compiles for host and device.
#pragma once

#include <cstdint>

#include "fastinit/macros.h"

FASTINIT_NAMESPACE_BEGIN

// Note [division by invariant integers]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The index maps below divide by the same sizes for every element. A GPU
// has no integer divider: a 64-bit `/` or `%` is a subroutine of dozens of
// instructions. So each divisor d gets, once on the host, a magic number
// and a shift (Granlund and Montgomery, "Division by invariant integers
// using multiplication", PLDI 1994): with s = ceil(log2 d) and
// m = floor(2^32 (2^s - d) / d) + 1, every n < 2^31 has
// n / d = (mulhi(n, m) + n) >> s, one multiply-high, an add and a shift
// (the sum stays below 2^32 since mulhi(n, m) <= n). Layouts whose indices
// all fit (fewer than 2^31 elements) use it; larger ones keep 64-bit
// division.
struct Divider {
  uint32_t divisor = 1;
  uint32_t magic = 1;
  uint32_t shift = 0;

  // For 1 <= d <= 2^31.
  static Divider make(uint32_t d) {
    uint32_t s = 0;
    while ((uint64_t{1} << s) < d) ++s;
    const uint64_t m = ((uint64_t{1} << 32) * ((uint64_t{1} << s) - d)) / d + 1;
    return {d, static_cast<uint32_t>(m), s};
  }

  // n / divisor for n < 2^31.
  FASTINIT_INLINE uint32_t divide(uint32_t n) const {
#ifdef __CUDA_ARCH__
    const uint32_t high = __umulhi(n, magic);
#else
    const uint32_t high = static_cast<uint32_t>((static_cast<uint64_t>(n) * magic) >> 32);
#endif
    return (high + n) >> shift;
  }
};

// Sizes and strides of a strided tensor after coalescing (see coalesce()).
struct StridedLayout {
  static constexpr int kMaxDims = 16;

  static constexpr int64_t kNarrowElements = int64_t{1} << 31;

  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
  // Fewer than 2^31 elements: offset_of divides by `dividers` (Note
  // [division by invariant integers]).
  bool narrow = false;
  Divider dividers[kMaxDims] = {};

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
    int64_t elements = 1;
    for (int d = 0; d < out.ndim && elements < kNarrowElements; ++d) {
      elements = out.sizes[d] < kNarrowElements ? elements * out.sizes[d] : kNarrowElements;
    }
    out.narrow = elements < kNarrowElements;
    for (int d = 0; out.narrow && d < out.ndim; ++d) {
      out.dividers[d] = Divider::make(static_cast<uint32_t>(out.sizes[d]));
    }
    return true;
  }

  // Memory offset (in elements) of the element with logical index `index`.
  FASTINIT_INLINE int64_t offset_of(int64_t index) const {
    int64_t offset = 0;
    if (narrow) {
      uint32_t rest = static_cast<uint32_t>(index);
      for (int d = ndim - 1; d >= 0; --d) {
        const uint32_t quotient = dividers[d].divide(rest);
        offset += static_cast<int64_t>(rest - quotient * dividers[d].divisor) * strides[d];
        rest = quotient;
      }
      return offset;
    }
    return wide_offset(ndim, sizes, strides, index);
  }

  // offset_of by 64-bit division (2^31 elements or more), out of line.
  static FASTINIT_RARE int64_t wide_offset(int ndim, const int64_t* sizes, const int64_t* strides,
                                           int64_t index) {
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
  // Fewer than 2^31 local elements: local / run by `run_divider`.
  bool narrow = false;
  Divider run_divider;

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
    if (!StridedLayout::coalesce(d + 1, local_sizes, global_strides, out.runs)) return false;
    out.narrow = out.runs.narrow && out.run < StridedLayout::kNarrowElements;
    int64_t elements = out.run;
    for (int k = 0; out.narrow && k < out.runs.ndim; ++k) {
      elements *= out.runs.sizes[k];  // < 2^62: both factors are below 2^31
      out.narrow = elements < StridedLayout::kNarrowElements;
    }
    if (out.narrow) out.run_divider = Divider::make(static_cast<uint32_t>(out.run));
    return true;
  }

  // True when local and global indices coincide.
  FASTINIT_INLINE bool whole() const { return base == 0 && runs.ndim == 0; }

  FASTINIT_INLINE int64_t global_index(int64_t local) const {
    if (narrow) {
      const uint32_t index = static_cast<uint32_t>(local);
      const uint32_t run_number = run_divider.divide(index);
      return base + runs.offset_of(run_number) + (index - run_number * run_divider.divisor);
    }
    return base + runs.offset_of(local / run) + local % run;
  }
};

FASTINIT_NAMESPACE_END
