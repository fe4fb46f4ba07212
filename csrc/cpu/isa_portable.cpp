// The kernels for any CPU: one lane (ScalarLanes), compiled for the build's
// baseline instruction set. The reference for the vector versions.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "fastinit/scalar_lanes.h"
#include "kernel_table_impl.h"

namespace fastinit::cpu {

// float16 has no conversion here: the caller uses c10::Half's (the same
// rounding).
const KernelTable& portable_kernels() {
  static const KernelTable table =
      portable::cpu_kernels::make_table<ScalarLanes>("portable");
  return table;
}

}  // namespace fastinit::cpu
