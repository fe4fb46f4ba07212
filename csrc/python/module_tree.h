#pragma once
// module_tree(): one walk of an nn.Module for the plan cache of
// fastinit.reset_parameters (Note [cached plans] in fastinit/planning.py).
#include <torch/extension.h>

namespace fastinit::python {

// Every module of the tree under `root` once (pre-order, children in
// registration order), the tensors of their _parameters and _buffers in
// order, None entries included, and a 64-bit signature of all that: the
// identities of modules, names and tensor objects, and each tensor's sizes,
// dtype, device and TensorImpl (so a `.data` swap shows). A plan built for
// a tree stays valid while the signature is unchanged.
pybind11::tuple module_tree(pybind11::handle root);

}  // namespace fastinit::python
