// Meta kernels: meta tensors have no storage, so every op is a no-op after
// the same argument checks as the real backends (backend_kernels.h).
#include <torch/library.h>

#include "../backend_kernels.h"

namespace fastinit::meta {
namespace {

struct Backend {
  static constexpr bool kWrites = false;
};

}  // namespace

TORCH_LIBRARY_IMPL(fastinit, Meta, m) { BackendKernels<Backend>::register_to(m); }

}  // namespace fastinit::meta
