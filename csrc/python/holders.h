#pragma once
// find_holders(): where loaded modules hold given function objects, for
// fastinit.patching (Note [finding holders] in holders.cpp).
#include <torch/extension.h>

#include <string>

namespace fastinit::python {

// Every (dict, key, value) where a module of `modules` (sys.modules), other
// than `skipped_package` and its submodules, holds one of `targets`.
pybind11::list find_holders(const pybind11::dict& modules, const std::string& skipped_package,
                            const pybind11::list& targets, Py_ssize_t max_table_size);

}  // namespace fastinit::python
