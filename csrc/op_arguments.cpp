#include "op_arguments.h"

#include <cmath>

#include <c10/util/Exception.h>

namespace fastinit {

MixtureArgs::MixtureArgs(at::TensorList tensors, at::IntArrayRef seeds, at::IntArrayRef counts,
                         ops::Numbers probabilities, at::IntArrayRef kinds,
                         ops::Numbers parameters)
    : seeds(seeds),
      counts(counts),
      kinds(kinds),
      probabilities(probabilities),
      parameters(parameters),
      first_component(tensors.size() + 1, 0) {
  check_mixture_args(tensors, seeds, counts, probabilities, kinds, parameters);
  for (size_t i = 0; i < tensors.size(); ++i) {
    first_component[i + 1] = first_component[i] + counts[i];
  }
}

MixtureParams MixtureArgs::params32(size_t i) const {
  const int64_t first = first_component[i];
  return MixtureParams::make(key_of(seeds[i]), static_cast<int>(counts[i]),
                             probabilities.data() + first, kinds.data() + first,
                             parameters.data() + MixtureParams::kParametersPerComponent * first);
}

SparsePattern::SparsePattern(const at::Tensor& tensor, int64_t seed, double sparsity)
    : key_(key_of(seed)), rows_(tensor.size(0)), cols_(tensor.size(1)) {
  TORCH_CHECK(rows_ <= INT64_C(0xFFFFFFFF),
              "fastinit::sparse_ supports at most 2^32 - 1 rows, but got ", rows_);
  zeros_ = static_cast<int64_t>(std::ceil(sparsity * static_cast<double>(rows_)));
}

}  // namespace fastinit
