#include "generators.h"

#include <torch/csrc/Generator.h>

#include "../seeds.h"

namespace py = pybind11;

namespace fastinit::python {
namespace {

py::object& default_generator_variable() {
  static py::object* variable = new py::object();  // leaked: lives as long as the module
  return *variable;
}

}  // namespace

void set_default_generator_variable(py::object variable) {
  TORCH_CHECK_TYPE(PyContextVar_CheckExact(variable.ptr()),
                   "fastinit: expected a contextvars.ContextVar");
  default_generator_variable() = std::move(variable);
}

at::Generator generator_or_default(py::handle generator) {
  py::object context_default;
  if (generator.is_none() && default_generator_variable()) {
    PyObject* value = nullptr;
    if (PyContextVar_Get(default_generator_variable().ptr(), Py_None, &value) != 0) {
      throw py::error_already_set();
    }
    context_default = py::reinterpret_steal<py::object>(value);
    generator = context_default;
  }
  if (generator.is_none()) {
    return at::detail::getDefaultCPUGenerator();
  }
  TORCH_CHECK_TYPE(THPGenerator_Check(generator.ptr()),
                   "fastinit: generator must be a torch.Generator, but got ",
                   Py_TYPE(generator.ptr())->tp_name);
  return reinterpret_cast<THPGenerator*>(generator.ptr())->cdata;
}

std::vector<int64_t> draw_seeds(py::handle generator, int64_t count) {
  return fastinit::draw_seeds(generator_or_default(generator), count);
}

}  // namespace fastinit::python
