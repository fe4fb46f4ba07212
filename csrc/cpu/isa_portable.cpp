// The kernels for any CPU: one lane (ScalarLanes), compiled for the build's
// baseline instruction set. The reference for the vector versions.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "fastinit/scalar_lanes.h"
#include "kernel_table_impl.h"

namespace fastinit::cpu {

const KernelTable& portable_kernels() {
  using S = ScalarLanes;
  static const KernelTable table = {
      "portable",
      &cpu_kernels::uniform<S>,
      &cpu_kernels::normal<S>,
      &cpu_kernels::trunc_normal<S>,
      &cpu_kernels::to_bfloat16,
      nullptr,  // float16: c10::Half's conversion in the caller
  };
  return table;
}

}  // namespace fastinit::cpu
