// Note [orthogonal from reflectors]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// torch's orthogonal_ takes the QR factorization of an m x c gaussian
// matrix A (m >= c) and returns Q diag(sign(diag(R))), which is Haar
// distributed (Mezzadri 2007). Householder QR computes R's first column by
// reflecting a_1 onto the first axis with H_1; because the gaussian law is
// invariant under the orthogonal H_1, which depends on a_1 only, the rows
// 2..m of H_1 a_2, ..., H_1 a_c are again independent standard gaussians,
// independent of H_1 — and so on down the columns. The reflectors of a
// gaussian matrix therefore have the law of reflectors built from c
// independent gaussian vectors x_k of lengths m, m - 1, ..., m - c + 1
// (Stewart 1980), and Q = H_1 ... H_c (first c columns) with column k times
// sign(R_kk) has the same law as torch's result. Building the reflectors
// directly skips the factorization (geqrf, half of the QR's flops and its
// least parallel half): only ATen's householder_product (LAPACK's orgqr)
// runs.
//
// With LAPACK's convention, the reflector of x = (x_0, rest) maps x to
// beta e_1 with beta = -sign(x_0) |x| (no cancellation), tau = (beta - x_0)
// / beta, and v = (1, rest / (x_0 - beta)); R_kk = beta, so column k of Q
// is multiplied by sign(beta) = -sign(x_0) (sign(0) taken as +1). For x of
// length 1 (the last column of a square matrix) this gives tau = 2 and
// H = -1 where LAPACK's geqrf takes tau = 0, H = 1: the sign correction
// undoes the difference, so the law is the same.
//
// The workspace stores each x_k in row k (its entries from column k on;
// the ones left of the diagonal are ignored, and zeroed so that the rows'
// norms are those of the x_k), that is the reflector matrix
// in LAPACK's column-major layout, and householder_product overwrites it
// in place with Q in the same layout: row k of the workspace is column k of
// Q. A wide or square destination (c rows) takes the workspace as it is,
// Q^T (the transpose of a Haar matrix is Haar), a tall one its transpose.
#include "orthogonal_householder.h"

#include <algorithm>
#include <vector>

#include <ATen/ATen.h>

namespace fastinit {

void write_orthogonal(at::TensorList destinations, int64_t first,
                      const at::Tensor& workspace, double gain) {
  // Kernels run below autograd, also on the worker threads of a parallel
  // region (whose thread-local dispatch state is the default one).
  const at::AutoDispatchBelowADInplaceOrView below_autograd;
  const int64_t c = workspace.size(1);
  const at::Tensor heads = workspace.diagonal(0, -2, -1).clone();  // x_0 of each x_k
  const at::Tensor norms = at::linalg_vector_norm(workspace.triu_(), 2, -1);  // no copy
  const at::Tensor head_signs = at::where(heads >= 0, 1.0, -1.0).to(workspace.scalar_type());
  const at::Tensor betas = -head_signs * norms;
  const at::Tensor taus = (betas - heads) / betas;
  workspace.mul_((heads - betas).reciprocal_().unsqueeze(-1));
  at::Tensor reflectors = workspace.mT();
  at::linalg_householder_product_out(reflectors, reflectors, taus);
  // Row k of each matrix is column k of Q: times sign(R_kk) * gain, written
  // into the destination in the same pass (rounded once for 16-bit types).
  const at::Tensor scales = head_signs.mul_(-gain);
  for (int64_t i = 0; i < workspace.size(0); ++i) {
    at::Tensor destination = destinations[first + i];  // a handle: written through
    std::vector<int64_t> scale_shape(static_cast<size_t>(destination.dim()), 1);
    if (destination.size(0) == c) {  // wide or square: Q^T, one scale per row
      scale_shape[0] = c;
      at::mul_out(destination, workspace[i].view(destination.sizes()), scales[i].view(scale_shape));
    } else {  // tall: Q, one scale per (flattened) column
      std::copy(destination.sizes().begin() + 1, destination.sizes().end(), scale_shape.begin() + 1);
      at::mul_out(destination, workspace[i].t().reshape(destination.sizes()), scales[i].view(scale_shape));
    }
  }
}

}  // namespace fastinit
