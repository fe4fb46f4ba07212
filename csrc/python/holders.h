#pragma once
// find_holders(): where loaded modules hold given function objects, for
// fastinit.patching (Note [finding holders] in holders.cpp).
#include <torch/extension.h>

namespace fastinit::python {

pybind11::list find_holders(const pybind11::list& objects, const pybind11::list& targets,
                            Py_ssize_t max_table_size);

}  // namespace fastinit::python
