// The QR step of orthogonal_, shared by the CPU and CUDA kernels of
// orthogonal_from_ (ATen's linalg_qr does the factorization).
#pragma once

#include <ATen/core/Tensor.h>

namespace fastinit {

// The orthogonal factor of `gaussian` (rows x cols) times gain, written into
// `destination` (rows x anything of cols elements): QR of the tall one of
// gaussian and its transpose, columns scaled by sign(diag(R)) * gain.
void write_orthogonal(const at::Tensor& destination, const at::Tensor& gaussian, double gain);

}  // namespace fastinit
