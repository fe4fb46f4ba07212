// Portability macros shared by the CPU and CUDA builds of the torch-free
// headers in this folder.
#pragma once

#if defined(__CUDACC__) || defined(__HIPCC__)
#define FASTINIT_HOST_DEVICE __host__ __device__
#else
#define FASTINIT_HOST_DEVICE
#endif

#define FASTINIT_INLINE FASTINIT_HOST_DEVICE inline
// For rare paths (retries of rejected draws): kept out of line, so that the
// hot loops around them need fewer registers.
#define FASTINIT_RARE FASTINIT_HOST_DEVICE inline __attribute__((noinline))

// Note [instruction-set namespaces]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The CPU kernels are compiled several times, once per instruction set
// (csrc/cpu/isa_*.cpp, each under its own `#pragma GCC target`). Inline
// functions compiled under different targets must never be merged by the
// linker, or AVX-512 code could run on a CPU without it. So every header
// with code opens its namespace through FASTINIT_NAMESPACE_BEGIN, which adds
// an inline namespace named after the instruction set of the translation
// unit (FASTINIT_ISA, default `portable`): each unit's copies get their own
// symbol names, as ATen's CPU_CAPABILITY namespaces do. Plain data shared
// across units (params.h) stays outside.
#ifndef FASTINIT_ISA
#define FASTINIT_ISA portable
#endif

#define FASTINIT_NAMESPACE_BEGIN \
  namespace fastinit {           \
  inline namespace FASTINIT_ISA {
#define FASTINIT_NAMESPACE_END \
  }                            \
  }
