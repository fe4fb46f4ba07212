// sparse_'s zeros on the CPU (Note [sparse_ zero pattern]): columns in
// parallel, each zeroing its rows in place.
#include <algorithm>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include "backend.h"

namespace fastinit::cpu {

void Backend::zero(const at::Tensor& tensor, const SparsePattern& pattern) {
  const int64_t row_stride = tensor.stride(0);
  const int64_t col_stride = tensor.stride(1);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, tensor.scalar_type(), "fastinit::sparse_", [&] {
    scalar_t* data = tensor.data_ptr<scalar_t>();
    const int64_t grain = std::max<int64_t>(1, kGrainElements / pattern.rows());
    at::parallel_for(0, pattern.cols(), grain, [&](int64_t begin, int64_t end) {
      pattern.for_columns(begin, end, [&](int64_t row, int64_t col) {
        data[row * row_stride + col * col_stride] = scalar_t(0);
      });
    });
  });
}

}  // namespace fastinit::cpu
