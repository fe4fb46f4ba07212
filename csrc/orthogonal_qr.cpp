#include "orthogonal_qr.h"

#include <ATen/ATen.h>

namespace fastinit {

void write_orthogonal(at::TensorList destinations, int64_t first,
                      const at::Tensor& gaussians, double gain) {
  // Kernels run below autograd, also on the worker threads of a parallel
  // region (whose thread-local dispatch state is the default one).
  const at::AutoDispatchBelowADInplaceOrView below_autograd;
  const bool wide = gaussians.size(1) < gaussians.size(2);
  auto [q, r] = at::linalg_qr(wide ? gaussians.transpose(1, 2) : gaussians);
  q.mul_(r.diagonal(0, -2, -1).sign().mul_(gain).unsqueeze(-2));
  for (int64_t i = 0; i < gaussians.size(0); ++i) {
    const at::Tensor& destination = destinations[first + i];
    destination.copy_((wide ? q[i].t() : q[i]).reshape(destination.sizes()));
  }
}

}  // namespace fastinit
