#pragma once
// The version-counter bump that follows every write of a fastinit op
// (version_counters.cpp), shared with the Python fast paths, which call the
// ops below this dispatch key.
#include <ATen/core/Tensor.h>

namespace fastinit {

void bump_versions(at::TensorList written);

}  // namespace fastinit
