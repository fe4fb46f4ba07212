#pragma once
// The generator that `generator=None` means for the Python fast paths, and
// seed drawing from Python.
#include <torch/extension.h>

namespace fastinit::python {

// The context variable of fastinit.generators.using_generator, read by
// generator_or_default.
void set_default_generator_variable(pybind11::object variable);

// `generator`, else the generator using_generator() set, else torch's
// default CPU generator: the same rule as fastinit.generators.resolve_generator,
// which the compiled paths use.
at::Generator generator_or_default(pybind11::handle generator);

// `count` seeds from generator_or_default(generator).
std::vector<int64_t> draw_seeds(pybind11::handle generator, int64_t count);

}  // namespace fastinit::python
