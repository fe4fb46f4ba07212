// The Python extension module fastinit._C. Importing it loads the library
// and runs its TORCH_LIBRARY registrations; it also holds what only Python
// needs: the fast paths into the ops (fills.cpp), seeds and the default
// generator (generators.cpp), flat storage for materialize
// (allocation.cpp), the module walk of the plan cache (module_tree.cpp),
// patching's holder search (holders.cpp), the ownership check of deferred
// fills (references.cpp), and the constants both languages use. Only
// fastinit/_ops.py imports it. The CMake build leaves this folder out (its
// library is loaded with torch.ops.load_library).
#include <torch/extension.h>

#include "../checks.h"
#include "../ops.h"
#include "../orthogonal_householder.h"
#include "allocation.h"
#include "fastinit/params.h"
#include "fills.h"
#include "generators.h"
#include "holders.h"
#include "module_tree.h"
#include "references.h"

namespace py = pybind11;

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  using namespace fastinit;
#ifdef FASTINIT_WITH_CUDA
  m.attr("BUILT_WITH_CUDA") = true;
#else
  m.attr("BUILT_WITH_CUDA") = false;
#endif
  m.attr("LARGE_MATRIX_ELEMENTS") = kLargeMatrixElements;
  m.attr("STREAM_VERSION") = kStreamVersion;
  py::list filled_dtypes;  // torch's names ("float32", ...) of kFilledDtypes
  for (const at::ScalarType dtype : kFilledDtypes) {
    filled_dtypes.append(c10::getDtypeNames(dtype).first);
  }
  m.attr("FILLED_DTYPES") = filled_dtypes;
  m.attr("MIXTURE_PARAMETERS_PER_COMPONENT") = MixtureParams::kParametersPerComponent;
  py::dict kinds;
  kinds["constant"] = static_cast<int>(MixtureParams::kConstant);
  kinds["uniform"] = static_cast<int>(MixtureParams::kUniform);
  kinds["normal"] = static_cast<int>(MixtureParams::kNormal);
  kinds["trunc_normal"] = static_cast<int>(MixtureParams::kTruncNormal);
  m.attr("MIXTURE_KINDS") = kinds;
  py::list seeded_ops;  // the op registry's names (Note [the op registry] in csrc/ops.h)
  py::list drawing_ops;
#define FASTINIT_SEEDED_NAME(name, signature, schema) seeded_ops.append(#name);
#define FASTINIT_DRAWING_NAME(name, signature, schema) drawing_ops.append(#name);
  FASTINIT_SEEDED_OPS(FASTINIT_SEEDED_NAME)
  FASTINIT_DRAWING_OPS(FASTINIT_DRAWING_NAME)
#undef FASTINIT_SEEDED_NAME
#undef FASTINIT_DRAWING_NAME
  m.attr("SEEDED_OPS") = seeded_ops;
  m.attr("DRAWING_OPS") = drawing_ops;

  m.def("check_floating", &check_floating, py::arg("function"), py::arg("tensor"));
  m.def("set_default_generator_variable", &python::set_default_generator_variable);
  m.def("draw_seeds", &python::draw_seeds, py::arg("generator"), py::arg("count"));
  python::define_fills(m);
  m.def("empty_flat", &python::empty_flat, py::arg("nbytes"), py::arg("advise_huge_pages"), py::arg("populate"),
        py::call_guard<py::gil_scoped_release>());
  m.def("module_tree", &python::module_tree, py::arg("root"));
  m.def("find_holders", &python::find_holders, py::arg("modules"), py::arg("skipped_package"), py::arg("targets"),
        py::arg("max_table_size"));
  m.def("held_only_by_its_python_object", &python::held_only_by_its_python_object, py::arg("tensor"));
}
