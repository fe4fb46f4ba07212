#include "orthogonal_qr.h"

#include <ATen/ATen.h>

namespace fastinit {

void write_orthogonal(const at::Tensor& destination, const at::Tensor& gaussian, double gain) {
  const bool wide = gaussian.size(0) < gaussian.size(1);
  auto [q, r] = at::linalg_qr(wide ? gaussian.t() : gaussian);
  // Make Q Haar-distributed (Mezzadri, arXiv:math-ph/0609050), scaled.
  q.mul_(r.diagonal().sign().mul_(gain));
  destination.copy_((wide ? q.t() : q).reshape(destination.sizes()));
}

}  // namespace fastinit
