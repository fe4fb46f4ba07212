// orthogonal_from_ on the CPU: the QR of each gaussian matrix, with torch's
// sign correction, the gain and the write into the destination fused per
// matrix, and matrices spread over the threads (LAPACK runs single-threaded
// inside the parallel region; a lone large matrix keeps its threads).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "../checks.h"
#include "../orthogonal_qr.h"

namespace fastinit::cpu {
namespace {

void orthogonal_from_(at::TensorList destinations, const at::Tensor& gaussians,
                      double gain) {
  check_orthogonal_args(destinations, gaussians);
  at::parallel_for(0, static_cast<int64_t>(destinations.size()), 1,
                   [&](int64_t begin, int64_t end) {
                     for (int64_t i = begin; i < end; ++i) {
                       write_orthogonal(destinations, i, gaussians.narrow(0, i, 1), gain);
                     }
                   });
}

}  // namespace

TORCH_LIBRARY_IMPL(fastinit, CPU, m) {
  m.impl("orthogonal_from_", &orthogonal_from_);
}

}  // namespace fastinit::cpu
