// The orthogonalization step of orthogonal_, shared by the CPU and CUDA
// kernels of orthogonal_from_ (ATen's householder_product builds Q).
#pragma once

#include <ATen/core/Tensor.h>

namespace fastinit {

// Matrices of this many elements or more are orthogonalized one at a time
// with all threads (the CPU kernel); smaller ones one per thread, with a
// single-threaded LAPACK (Note [reproducible QR]). fastinit.orthogonal
// reads it (fastinit._C.LARGE_MATRIX_ELEMENTS) to let such a matrix be its
// own workspace.
constexpr int64_t kLargeMatrixElements = int64_t{1} << 18;

// Turns a batch of gaussian workspaces (count, c, m) — c = min(rows, cols),
// m = max(rows, cols), row k of a matrix the gaussian source of reflector
// k — into gain times Haar-distributed matrices with orthonormal rows
// (Note [orthogonal from reflectors]), in place, and writes matrix i into
// destinations[first + i]: as it is when the destination has c rows (wide
// or square), transposed when it has m (tall).
void write_orthogonal(at::TensorList destinations, int64_t first,
                      const at::Tensor& workspace, double gain);

}  // namespace fastinit
