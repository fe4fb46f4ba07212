// orthogonal_from_ on CUDA: the group's Householder reflectors, built from
// the gaussian workspace, turned into orthogonal matrices by one batched
// householder_product on the device (Note [orthogonal from reflectors]).
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
