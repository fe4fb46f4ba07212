#pragma once
// The Python fast paths into the seeded ops: single-tensor fills for the
// torch.nn.init functions and batched fills for reset_parameters,
// materialize and the sharded fills.
#include <optional>
#include <vector>

#include <torch/extension.h>

namespace fastinit::python {

// Registers fill_uniform, fill_normal, fill_trunc_normal and the *_batch
// functions on the extension module.
void define_fills(pybind11::module_& m);

}  // namespace fastinit::python
