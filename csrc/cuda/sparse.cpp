// sparse_'s zeros on CUDA (Note [sparse_ zero pattern]): the pattern chosen
// on the host by the CPU's function and scattered without a sync.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>

#include "backend.h"

namespace fastinit::cuda {

void Backend::zero(const at::Tensor& tensor, const SparsePattern& pattern) {
  const int64_t count = pattern.zeros() * pattern.cols();
  at::Tensor row_index = at::empty({count}, at::kLong);
  at::Tensor col_index = at::empty({count}, at::kLong);
  int64_t* rows = row_index.data_ptr<int64_t>();
  int64_t* cols = col_index.data_ptr<int64_t>();
  int64_t k = 0;
  pattern.for_columns(0, pattern.cols(), [&](int64_t row, int64_t col) {
    rows[k] = row;
    cols[k] = col;
    ++k;
  });
  const c10::cuda::OptionalCUDAGuard guard(tensor.device());
  const auto to_device = [&](const at::Tensor& t) {
    return t.pin_memory().to(tensor.device(), /*non_blocking=*/true);
  };
  tensor.index_put_({to_device(row_index), to_device(col_index)},
                    at::zeros({}, tensor.options()));
}

}  // namespace fastinit::cuda
