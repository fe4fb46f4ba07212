#include "module_tree.h"

#include <algorithm>
#include <unordered_set>
#include <vector>

#include <torch/csrc/autograd/python_variable.h>

namespace py = pybind11;

namespace fastinit::python {

py::tuple module_tree(py::handle root) {
  uint64_t signature = 0x9e3779b97f4a7c15ull;
  const auto mix = [&signature](uint64_t value) {
    signature ^= value + 0x9e3779b97f4a7c15ull + (signature << 6) + (signature >> 2);
  };
  const auto mix_dict = [&](py::handle dict, py::list& values) {
    PyObject* key = nullptr;
    PyObject* value = nullptr;
    Py_ssize_t position = 0;
    while (PyDict_Next(dict.ptr(), &position, &key, &value)) {
      mix(reinterpret_cast<uintptr_t>(key));
      mix(reinterpret_cast<uintptr_t>(value));
      values.append(value);
      if (THPVariable_Check(value)) {
        const at::Tensor& tensor = THPVariable_Unpack(value);
        mix(reinterpret_cast<uintptr_t>(tensor.unsafeGetTensorImpl()));
        mix(static_cast<uint64_t>(tensor.scalar_type()));
        mix(static_cast<uint64_t>(tensor.device().type()) << 8 |
            static_cast<uint8_t>(tensor.device().index()));
        mix(static_cast<uint64_t>(tensor.dim()));
        for (const c10::SymInt& size : tensor.sym_sizes()) {
          mix(size.is_heap_allocated() ? ~0ull : static_cast<uint64_t>(size.as_int_unchecked()));
        }
      }
    }
  };
  // Interned once: attribute lookups by a prepared string are plain dict probes.
  static const py::object parameters_name = py::reinterpret_steal<py::object>(PyUnicode_InternFromString("_parameters"));
  static const py::object buffers_name = py::reinterpret_steal<py::object>(PyUnicode_InternFromString("_buffers"));
  static const py::object modules_name = py::reinterpret_steal<py::object>(PyUnicode_InternFromString("_modules"));
  // nn.Module keeps these three in the instance __dict__; reading them
  // there skips the attribute protocol with Module.__getattr__'s hook,
  // which took half the walk's time. Found nowhere else, they come from
  // getattr.
  const auto attribute = [](py::handle module, const py::object& dict,
                            const py::object& name) -> py::object {
    if (dict) {
      if (PyObject* value = PyDict_GetItemWithError(dict.ptr(), name.ptr())) {
        return py::reinterpret_borrow<py::object>(value);
      }
      if (PyErr_Occurred()) {
        throw py::error_already_set();
      }
    }
    return module.attr(name);
  };
  py::list modules;
  py::list tensors;
  std::vector<py::handle> stack{root};
  std::unordered_set<PyObject*> seen;
  while (!stack.empty()) {
    const py::handle module = stack.back();
    stack.pop_back();
    if (module.is_none() || !seen.insert(module.ptr()).second) {
      continue;
    }
    modules.append(module);
    mix(reinterpret_cast<uintptr_t>(module.ptr()));
    mix(reinterpret_cast<uintptr_t>(Py_TYPE(module.ptr())));
    auto dict = py::reinterpret_steal<py::object>(PyObject_GenericGetDict(module.ptr(), nullptr));
    if (!dict) {
      PyErr_Clear();  // no __dict__: plain getattr below
    }
    mix_dict(attribute(module, dict, parameters_name), tensors);
    mix_dict(attribute(module, dict, buffers_name), tensors);
    const py::dict children = attribute(module, dict, modules_name);
    const size_t first = stack.size();
    for (const auto& [name, child] : children) {
      mix(reinterpret_cast<uintptr_t>(name.ptr()));
      mix(reinterpret_cast<uintptr_t>(child.ptr()));
      stack.push_back(child);
    }
    std::reverse(stack.begin() + static_cast<std::ptrdiff_t>(first), stack.end());
  }
  return py::make_tuple(signature, modules, tensors);
}

}  // namespace fastinit::python
