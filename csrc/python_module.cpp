// An empty Python module, so that `import fastinit._C` loads the shared
// library and runs its TORCH_LIBRARY registrations. The CMake build leaves
// this file out: its library is loaded with torch.ops.load_library instead.
#include <Python.h>

extern "C" PyObject* PyInit__C(void) {
  static PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1,
                               nullptr};
  return PyModule_Create(&module);
}
