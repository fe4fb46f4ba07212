// The QR step of orthogonal_, shared by the CPU and CUDA kernels of
// orthogonal_from_ (ATen's linalg_qr does the factorization).
#pragma once

#include <ATen/core/Tensor.h>

namespace fastinit {

// The orthogonal factors of a batch of gaussian matrices (count, rows,
// cols), times gain, written into destinations[first ...] (each rows x
// anything of cols elements): one batched QR of the tall orientation (the
// transposes when rows < cols), columns scaled by sign(diag(R)) * gain
// (Mezzadri's correction, which makes Q Haar-distributed, as torch does).
void write_orthogonal(at::TensorList destinations, int64_t first,
                      const at::Tensor& gaussians, double gain);

}  // namespace fastinit
