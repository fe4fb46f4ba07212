// The float32 fill kernels of one instruction set, as a table of plain
// function pointers: the seam between the ATen side (fill_kernels.cpp) and
// the per-instruction-set translation units (isa_*.cpp), which are torch-free
// (Note [instruction-set namespaces] in fastinit/macros.h).
#pragma once

#include <cstdint>

#include "fastinit/params.h"

namespace fastinit::cpu {

// The most elements one kernel call may fill (the truncated normal keeps its
// pending list on the stack).
constexpr int64_t kMaxKernelElements = 4096;

struct KernelTable {
  const char* name;
  // Fill out[0, count) with the float32 elements [start, start + count) of a
  // tensor; start is a multiple of 4 and count <= kMaxKernelElements.
  void (*uniform)(const UniformParams<float>& p, int64_t start, int64_t count,
                  float* out);
  void (*normal)(const NormalParams<float>& p, int64_t start, int64_t count,
                 float* out);
  void (*trunc_normal)(const TruncNormalParams<float>& p, int64_t start,
                       int64_t count, float* out);
  void (*mixture)(const MixtureParams& p, int64_t start, int64_t count,
                  float* out);
  // Round float32 to bfloat16 / float16 bits (nearest even); null where the
  // caller should use c10's scalar conversions (same results).
  void (*to_bfloat16)(const float* in, int64_t count, uint16_t* out);
  void (*to_half)(const float* in, int64_t count, uint16_t* out);
  // The uniform, normal and truncated normal elements rounded in registers
  // as to_bfloat16 / to_half do and written once as 16-bit words (Note
  // [16-bit outputs] in kernel_table_impl.h); null where the table has no
  // such conversion.
  struct Fill16 {
    void (*uniform)(const UniformParams<float>& p, int64_t start,
                    int64_t count, uint16_t* out);
    void (*normal)(const NormalParams<float>& p, int64_t start, int64_t count,
                   uint16_t* out);
    void (*trunc_normal)(const TruncNormalParams<float>& p, int64_t start,
                         int64_t count, uint16_t* out);
  };
  Fill16 bfloat16;
  Fill16 half;
};

// The table this process uses (ATen's choice of instruction set, capped by
// what the CPU has; fill_kernels.cpp).
const KernelTable& kernels();

const KernelTable& portable_kernels();
const KernelTable& avx2_kernels();
const KernelTable& avx512_kernels();

}  // namespace fastinit::cpu
