// orthogonal_from_ on CUDA: one batched at::linalg_qr on the device for the
// whole group (Note [orthogonal from reflectors]).
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>

#include "../orthogonal_householder.h"
#include "backend.h"

namespace fastinit::cuda {

void Backend::orthogonal_from(at::TensorList destinations, const at::Tensor& gaussians,
                              double gain) {
  const c10::cuda::OptionalCUDAGuard guard(gaussians.device());
  write_orthogonal(destinations, 0, gaussians, gain);
}

}  // namespace fastinit::cuda
