#include "holders.h"

#include <algorithm>
#include <vector>

namespace py = pybind11;

namespace fastinit::python {

// Note [finding holders]
// ~~~~~~~~~~~~~~~~~~~~~~
// patch() swaps fastinit's initializers in wherever a loaded module holds
// torch's (or a library's) by name: in the module's namespace, or in a
// small dict in it (transformers keeps a table). A process that imported
// transformers has thousands of modules and a few hundred thousand names;
// looking at each from Python cost ~0.4 s per patch() and again per
// unpatch(). Here each name costs a pointer comparison. Only exact dicts are
// read (a module's __dict__, and dicts of at most max_table_size entries in
// it, one level deep); nothing is changed: the caller swaps what is found.
namespace {

struct Finder {
  std::vector<PyObject*> targets;  // sorted
  Py_ssize_t max_table_size;
  py::list found;

  bool is_target(PyObject* value) const {
    return std::binary_search(targets.begin(), targets.end(), value);
  }

  void scan(PyObject* table, bool nested) {
    PyObject* key;
    PyObject* value;
    Py_ssize_t position = 0;
    while (PyDict_Next(table, &position, &key, &value)) {
      if (is_target(value)) {
        found.append(py::make_tuple(py::handle(table), py::handle(key), py::handle(value)));
      } else if (nested && PyDict_CheckExact(value) && PyDict_Size(value) <= max_table_size) {
        scan(value, false);
      }
    }
  }
};

}  // namespace

py::list find_holders(const py::list& objects, const py::list& targets, Py_ssize_t max_table_size) {
  Finder finder{{}, max_table_size, py::list()};
  for (py::handle target : targets) {
    finder.targets.push_back(target.ptr());
  }
  std::sort(finder.targets.begin(), finder.targets.end());
  for (py::handle object : objects) {
    if (PyModule_Check(object.ptr())) {
      finder.scan(PyModule_GetDict(object.ptr()), true);  // borrowed
      continue;
    }
    // Anything else in sys.modules: its vars(), when that is a dict.
    PyObject* namespace_ = PyObject_GetAttrString(object.ptr(), "__dict__");
    if (namespace_ == nullptr) {
      PyErr_Clear();
      continue;
    }
    if (PyDict_CheckExact(namespace_)) {
      finder.scan(namespace_, true);
    }
    Py_DECREF(namespace_);
  }
  return finder.found;
}

}  // namespace fastinit::python
