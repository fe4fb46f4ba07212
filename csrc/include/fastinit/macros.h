// Portability macros shared by the CPU and CUDA builds of the torch-free
// headers in this folder.
#pragma once

#if defined(__CUDACC__) || defined(__HIPCC__)
#define FASTINIT_HOST_DEVICE __host__ __device__
#else
#define FASTINIT_HOST_DEVICE
#endif

#define FASTINIT_INLINE FASTINIT_HOST_DEVICE inline
