// The Python extension module fastinit._C. Importing it loads the library
// and runs its TORCH_LIBRARY registrations; it also holds the Python fast
// paths: seed drawing and single-tensor fills (fill_uniform(tensor,
// generator, a, b), fill_normal, fill_trunc_normal) that call the ops through
// the C++ dispatcher, which costs a fraction of a torch.ops call from Python.
// The CMake build leaves this file out (its library is loaded with
// torch.ops.load_library).
#include <sys/mman.h>

#include <cstdlib>
#include <vector>

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/Generator.h>
#include <torch/extension.h>

#include "seeds.h"

namespace py = pybind11;

namespace fastinit {
namespace {

at::Generator generator_or_default(const py::object& generator) {
  if (generator.is_none()) {
    return at::detail::getDefaultCPUGenerator();
  }
  TORCH_CHECK_TYPE(THPGenerator_Check(generator.ptr()),
                   "fastinit: generator must be a torch.Generator, but got ",
                   Py_TYPE(generator.ptr())->tp_name);
  return reinterpret_cast<THPGenerator*>(generator.ptr())->cdata;
}

std::vector<int64_t> draw_seeds_for_python(const py::object& generator, int64_t count) {
  return draw_seeds(generator_or_default(generator), count);
}

// Meta tensors draw no seed (torch's initializers leave the generator
// alone for them).
int64_t seed_for(const at::Tensor& tensor, const py::object& generator) {
  return tensor.is_meta() ? 0 : draw_seeds(generator_or_default(generator), 1)[0];
}

template <typename Signature>
c10::TypedOperatorHandle<Signature> op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

using UniformOrNormal = void(at::TensorList, at::IntArrayRef, at::ArrayRef<double>,
                             at::ArrayRef<double>, at::OptionalIntArrayRef,
                             at::OptionalIntArrayRef);
using TruncNormal = void(at::TensorList, at::IntArrayRef, at::ArrayRef<double>,
                         at::ArrayRef<double>, at::ArrayRef<double>, at::ArrayRef<double>,
                         at::OptionalIntArrayRef, at::OptionalIntArrayRef);

const auto& uniform_op() {
  static const auto handle = op<UniformOrNormal>("fastinit::uniform_");
  return handle;
}
const auto& normal_op() {
  static const auto handle = op<UniformOrNormal>("fastinit::normal_");
  return handle;
}
const auto& trunc_normal_op() {
  static const auto handle = op<TruncNormal>("fastinit::trunc_normal_");
  return handle;
}

// One seed, one op call on the list of one tensor with one value per
// parameter, no autograd history, the GIL released while the kernel runs.
template <typename Handle, typename... Params>
void fill_one(const Handle& handle, const at::Tensor& tensor,
              const py::object& generator, Params... params) {
  const int64_t seed = seed_for(tensor, generator);
  py::gil_scoped_release no_gil;
  at::NoGradGuard no_grad;
  handle.call({tensor}, {seed}, at::ArrayRef<double>(params)..., std::nullopt, std::nullopt);
}

// A byte tensor of `nbytes` for fastinit.materialize: 2 MiB-aligned, with
// transparent huge pages advised if `advise_huge_pages`, and left untouched,
// so the parallel fill that follows faults it in on every thread.
at::Tensor empty_flat(int64_t nbytes, bool advise_huge_pages) {
  TORCH_CHECK(nbytes > 0, "fastinit: empty_flat needs nbytes > 0, got ", nbytes);
  constexpr size_t kHugePage = size_t{2} << 20;
  const size_t size = (static_cast<size_t>(nbytes) + kHugePage - 1) / kHugePage * kHugePage;
  void* data = std::aligned_alloc(kHugePage, size);
  TORCH_CHECK(data != nullptr, "fastinit: could not allocate ", size, " bytes");
#ifdef MADV_HUGEPAGE
  if (advise_huge_pages) {
    madvise(data, size, MADV_HUGEPAGE);  // advice only; failure is harmless
  }
#endif
  return at::from_blob(data, {nbytes}, [](void* p) { std::free(p); },
                       at::TensorOptions().dtype(at::kByte));
}

}  // namespace
}  // namespace fastinit

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
#ifdef FASTINIT_WITH_CUDA
  m.attr("BUILT_WITH_CUDA") = true;
#else
  m.attr("BUILT_WITH_CUDA") = false;
#endif
  m.def("draw_seeds", &fastinit::draw_seeds_for_python, py::arg("generator"), py::arg("count"));
  m.def("empty_flat", &fastinit::empty_flat, py::arg("nbytes"), py::arg("advise_huge_pages"));
  using fastinit::fill_one;
  m.def("fill_uniform", [](const at::Tensor& t, const py::object& g, double a, double b) {
    fill_one(fastinit::uniform_op(), t, g, a, b);
  });
  m.def("fill_normal", [](const at::Tensor& t, const py::object& g, double mean, double std) {
    fill_one(fastinit::normal_op(), t, g, mean, std);
  });
  m.def("fill_trunc_normal", [](const at::Tensor& t, const py::object& g, double mean,
                                double std, double a, double b) {
    fill_one(fastinit::trunc_normal_op(), t, g, mean, std, a, b);
  });
}
