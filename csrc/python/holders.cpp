#include "holders.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace fastinit::python {

// Note [finding holders]
// ~~~~~~~~~~~~~~~~~~~~~~
// patch() swaps fastinit's initializers in wherever a loaded module holds
// torch's (or a library's) by name: in the module's namespace, or in a
// small dict in it (transformers keeps a table). Only exact dicts are read
// (a module's __dict__, and dicts of at most max_table_size entries in it,
// one level deep); nothing is changed: the caller swaps what is found.
//
// A process that imported transformers holds ~3000 namespaces with ~130
// thousand names, ~3.7 MB of dict entries. Reading them all costs
// milliseconds per patch() and per unpatch(), more right after a fill has
// swept the caches (as when materialize runs a model's init_weights; figures
// in docs/design.md's hardware section). So each dict's Python functions (the targets are always functions) and
// small dicts are remembered together with the dict's version tag (PEP 509),
// which CPython changes on every change of the dict; a search reads again
// only the dicts changed since, which after a patch() are the few dozen
// holders it swapped. The tag is gone from CPython 3.14; there every dict is
// read on every search. Each dict is read once per search: every module's
// `__builtins__` is the same ~160-entry dict.
namespace {

#if PY_VERSION_HEX < 0x030E0000
#define FASTINIT_DICT_VERSIONS 1
// The field is deprecated from 3.12 (PEP 699) but kept, and still changes.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
uint64_t version_of(PyObject* dict) {
  return reinterpret_cast<PyDictObject*>(dict)->ma_version_tag;
}
#pragma GCC diagnostic pop
#endif

// What a dict held when it was last read. The pointers are borrowed from
// the dict: while its version is unchanged it still holds every one of them.
struct DictContents {
  py::object dict;  // held, so that its address names it until it is forgotten
  uint64_t version = 0;
  std::vector<std::pair<PyObject*, PyObject*>> functions;  // (key, value)
  std::vector<PyObject*> dicts;                            // values that are exact dicts
};

using Remembered = std::unordered_map<PyObject*, DictContents>;

Remembered& remembered_contents() {  // guarded by the GIL, which find_holders holds
  static auto* remembered = new Remembered();  // never destroyed: it holds Python objects
  return *remembered;
}

DictContents read_dict(PyObject* dict) {
  DictContents contents{py::reinterpret_borrow<py::object>(dict)};
#ifdef FASTINIT_DICT_VERSIONS
  contents.version = version_of(dict);
#endif
  PyObject* key;
  PyObject* value;
  Py_ssize_t position = 0;
  while (PyDict_Next(dict, &position, &key, &value)) {
    if (PyFunction_Check(value)) {
      contents.functions.emplace_back(key, value);
    } else if (PyDict_CheckExact(value)) {
      contents.dicts.push_back(value);
    }
  }
  return contents;
}

struct Finder {
  std::vector<PyObject*> targets;  // sorted
  Py_ssize_t max_table_size;
  Remembered& last;  // from the previous search
  Remembered now;    // every dict this search read
  std::unordered_set<PyObject*> tables_read;  // the namespaces whose small dicts this search read
  py::list found;

  bool is_target(PyObject* value) const {
    return std::binary_search(targets.begin(), targets.end(), value);
  }

  const DictContents& contents_of(PyObject* dict) {
    // Taken out of `last` whole, so that an exception leaves it only shorter.
    auto previous = last.extract(dict);
#ifdef FASTINIT_DICT_VERSIONS
    if (!previous.empty() && previous.mapped().version == version_of(dict)) {
      return now.insert(std::move(previous)).position->second;
    }
#endif
    return now.emplace(dict, read_dict(dict)).first->second;
  }

  // A dict met again is not searched again; but one first met as another
  // namespace's small dict still has its own small dicts read when it is
  // met as a module's namespace.
  void scan(PyObject* dict, bool nested) {
    const auto known = now.find(dict);
    const DictContents& contents = known != now.end() ? known->second : contents_of(dict);
    if (known == now.end()) {
      for (auto [key, value] : contents.functions) {
        if (is_target(value)) {
          found.append(py::make_tuple(py::handle(dict), py::handle(key), py::handle(value)));
        }
      }
    }
    if (nested && tables_read.insert(dict).second) {
      for (PyObject* table : contents.dicts) {
        if (PyDict_Size(table) <= max_table_size) {
          scan(table, false);
        }
      }
    }
  }
};

}  // namespace

py::list find_holders(const py::dict& modules, const std::string& skipped_package, const py::list& targets,
                      Py_ssize_t max_table_size) {
  Finder finder{{}, max_table_size, remembered_contents(), {}, {}, py::list()};
  for (py::handle target : targets) {
    TORCH_CHECK(PyFunction_Check(target.ptr()), "fastinit: find_holders looks for Python functions, got ",
                Py_TYPE(target.ptr())->tp_name);
    finder.targets.push_back(target.ptr());
  }
  std::sort(finder.targets.begin(), finder.targets.end());
  const std::string skipped_prefix = skipped_package + ".";
  // A copy: vars() of an object that is not a module may run Python code,
  // which may import.
  py::dict loaded = py::reinterpret_steal<py::dict>(PyDict_Copy(modules.ptr()));
  for (auto [name, module] : loaded) {
    if (module.is_none() || !PyUnicode_Check(name.ptr())) {
      continue;
    }
    const char* utf8 = PyUnicode_AsUTF8(name.ptr());
    if (utf8 == nullptr) {  // a name UTF-8 cannot spell is not the skipped package's
      PyErr_Clear();
    } else if (std::string_view name_ = utf8;
               name_ == skipped_package || name_.substr(0, skipped_prefix.size()) == skipped_prefix) {
      continue;
    }
    if (PyModule_Check(module.ptr())) {
      finder.scan(PyModule_GetDict(module.ptr()), true);  // borrowed
      continue;
    }
    // Anything else in sys.modules: its vars(), when that is a dict.
    PyObject* namespace_ = PyObject_GetAttrString(module.ptr(), "__dict__");
    if (namespace_ == nullptr) {
      PyErr_Clear();
      continue;
    }
    if (PyDict_CheckExact(namespace_)) {
      finder.scan(namespace_, true);
    }
    Py_DECREF(namespace_);
  }
  finder.last = std::move(finder.now);  // dicts no longer reachable are forgotten
  return finder.found;
}

}  // namespace fastinit::python
