// The Python extension module fastinit._C. Importing it loads the library
// and runs its TORCH_LIBRARY registrations; it also holds the Python fast
// paths: seed drawing and single-tensor fills (fill_uniform(tensor,
// generator, a, b), fill_normal, fill_trunc_normal) that call the ops through
// the C++ dispatcher, which costs a fraction of a torch.ops call from Python.
// The CMake build leaves this file out (its library is loaded with
// torch.ops.load_library). module_tree() walks an nn.Module for the plan
// cache of fastinit.reset_parameters (Note [cached plans] in model.py).
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <unordered_set>
#include <vector>

#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/Generator.h>
#include <torch/csrc/autograd/python_variable.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/extension.h>

#include "orthogonal_householder.h"
#include "python/holders.h"
#include "seeds.h"

namespace py = pybind11;

namespace fastinit {
namespace {

// The context variable of fastinit._ops.using_generator: the generator
// that `generator=None` means while it is set (resolve_generator there).
py::object& default_generator_variable() {
  static py::object* variable = new py::object();  // leaked: lives as long as the module
  return *variable;
}

void set_default_generator_variable(py::object variable) {
  TORCH_CHECK_TYPE(PyContextVar_CheckExact(variable.ptr()),
                   "fastinit: expected a contextvars.ContextVar");
  default_generator_variable() = std::move(variable);
}

// `generator`, else the generator using_generator() set, else torch's
// default CPU generator.
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
using Mixture = void(at::TensorList, at::IntArrayRef, at::IntArrayRef, at::ArrayRef<double>,
                     at::IntArrayRef, at::ArrayRef<double>, at::ArrayRef<double>,
                     at::ArrayRef<double>, at::ArrayRef<double>, at::OptionalIntArrayRef,
                     at::OptionalIntArrayRef);

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
const auto& mixture_op() {
  static const auto handle = op<Mixture>("fastinit::mixture_");
  return handle;
}

// Calls the op of `handle` on whole `tensors` (no shard windows) with the
// GIL released, starting below the Autograd and ADInplaceOrView keys, then
// bumps every tensor's version as our ADInplaceOrView kernel would
// (csrc/inplace_or_view). torch.nn.init fills under no_grad, where those
// layers do nothing else, and passing through them boxes every argument:
// about a microsecond per call. Dispatch modes still see the op.
template <typename Handle, typename... Args>
void call_below_autograd(const Handle& handle, at::TensorList tensors, const Args&... args) {
  {
    py::gil_scoped_release no_gil;
    const at::AutoDispatchBelowADInplaceOrView below;
    handle.call(tensors, args..., std::nullopt, std::nullopt);
  }
  for (const at::Tensor& tensor : tensors) {
    torch::autograd::impl::bump_version(tensor);
  }
}

// One seed, one op call on the list of one tensor with one value per
// parameter. Returns false, drawing and writing nothing, for a dtype that
// is not floating point (the caller raises naming its public function).
template <typename Handle, typename... Params>
bool fill_one(const Handle& handle, const at::Tensor& tensor,
              const py::object& generator, Params... params) {
  if (!tensor.is_floating_point()) {
    return false;
  }
  const int64_t seed = seed_for(tensor, generator);
  call_below_autograd(handle, tensor, at::IntArrayRef(seed), at::ArrayRef<double>(params)...);
  return true;
}

// The batched ops on Python lists, through call_below_autograd: for
// fastinit.reset_parameters' plain tensors, where converting the lists for
// a torch.ops call costs a few hundred nanoseconds per tensor.
using Doubles = std::vector<double>;
using Ints = std::vector<int64_t>;
using Tensors = std::vector<at::Tensor>;

void uniform_batch(const Tensors& tensors, const Ints& seeds, const Doubles& low,
                   const Doubles& high) {
  call_below_autograd(uniform_op(), tensors, at::IntArrayRef(seeds), at::ArrayRef<double>(low),
                      at::ArrayRef<double>(high));
}

void normal_batch(const Tensors& tensors, const Ints& seeds, const Doubles& mean,
                  const Doubles& std) {
  call_below_autograd(normal_op(), tensors, at::IntArrayRef(seeds), at::ArrayRef<double>(mean),
                      at::ArrayRef<double>(std));
}

void trunc_normal_batch(const Tensors& tensors, const Ints& seeds, const Doubles& mean,
                        const Doubles& std, const Doubles& a, const Doubles& b) {
  call_below_autograd(trunc_normal_op(), tensors, at::IntArrayRef(seeds),
                      at::ArrayRef<double>(mean), at::ArrayRef<double>(std),
                      at::ArrayRef<double>(a), at::ArrayRef<double>(b));
}

void mixture_batch(const Tensors& tensors, const Ints& seeds, const Ints& counts,
                   const Doubles& probabilities, const Ints& kinds, const Doubles& first,
                   const Doubles& second, const Doubles& third, const Doubles& fourth) {
  call_below_autograd(mixture_op(), tensors, at::IntArrayRef(seeds), at::IntArrayRef(counts),
                      at::ArrayRef<double>(probabilities), at::IntArrayRef(kinds),
                      at::ArrayRef<double>(first), at::ArrayRef<double>(second),
                      at::ArrayRef<double>(third), at::ArrayRef<double>(fourth));
}

// A byte tensor of `nbytes` for fastinit.materialize, its pages already
// resident (Note [populated allocations]), with transparent huge pages
// advised first if `advise_huge_pages`.
//
// Note [populated allocations]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
// Fresh memory costs a page fault per 4 KiB page on first touch; on 2-vCPU
// EPYC VMs that runs at 1–3 GB/s, slower than generating the values. Asking
// the kernel to populate the pages (madvise MADV_POPULATE_WRITE, Linux 5.14)
// skips the fault path: done in 64 MiB pieces from every thread it ran at
// 3.7–4.4 GB/s against 1.7–2.7 GB/s for touching pages from two threads on
// a 2-core Zen 3. Huge pages populate at up to 14 GB/s but
// erratically (1–14 GB/s, as the kernel compacts memory), so they stay
// opt-in. Where the kernel refuses the advice, the fill faults the pages in.
at::Tensor empty_flat(int64_t nbytes, bool advise_huge_pages) {
  TORCH_CHECK(nbytes > 0, "fastinit: empty_flat needs nbytes > 0, got ", nbytes);
  constexpr size_t kHugePage = size_t{2} << 20;
  constexpr size_t kPiece = size_t{64} << 20;
  const size_t size = (static_cast<size_t>(nbytes) + kHugePage - 1) / kHugePage * kHugePage;
  void* mapped = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  TORCH_CHECK(mapped != MAP_FAILED, "fastinit: could not allocate ", size, " bytes");
  char* data = static_cast<char*>(mapped);
#ifdef MADV_HUGEPAGE
  if (advise_huge_pages) {
    madvise(data, size, MADV_HUGEPAGE);  // advice only; failure is harmless
  }
#endif
#ifdef MADV_POPULATE_WRITE
  const auto pieces = static_cast<int64_t>((size + kPiece - 1) / kPiece);
  at::parallel_for(0, pieces, 1, [&](int64_t begin, int64_t end) {
    const size_t first = static_cast<size_t>(begin) * kPiece;
    const size_t last = std::min(size, static_cast<size_t>(end) * kPiece);
    madvise(data + first, last - first, MADV_POPULATE_WRITE);  // advice only, as above
  });
#endif
  return at::from_blob(data, {nbytes}, [size](void* p) { munmap(p, size); },
                       at::TensorOptions().dtype(at::kByte));
}

// Every module of the tree under `root` once (pre-order, children in
// registration order), the tensors of their _parameters and _buffers in
// order, None entries included, and a 64-bit signature of all that: the
// identities of modules, names and tensor objects, and each tensor's sizes,
// dtype, device and TensorImpl (so a `.data` swap shows). A plan built for
// a tree stays valid while the signature is unchanged.
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

}  // namespace
}  // namespace fastinit

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
#ifdef FASTINIT_WITH_CUDA
  m.attr("BUILT_WITH_CUDA") = true;
#else
  m.attr("BUILT_WITH_CUDA") = false;
#endif
  m.attr("LARGE_MATRIX_ELEMENTS") = fastinit::kLargeMatrixElements;
  m.def("draw_seeds", &fastinit::draw_seeds_for_python, py::arg("generator"), py::arg("count"));
  m.def("empty_flat", &fastinit::empty_flat, py::arg("nbytes"), py::arg("advise_huge_pages"),
        py::call_guard<py::gil_scoped_release>());
  m.def("module_tree", &fastinit::module_tree, py::arg("root"));
  m.def("find_holders", &fastinit::find_holders, py::arg("objects"), py::arg("targets"),
        py::arg("max_table_size"));
  m.def("set_default_generator_variable", &fastinit::set_default_generator_variable);
  using fastinit::fill_one;
  m.def("fill_uniform", [](const at::Tensor& t, const py::object& g, double a, double b) {
    return fill_one(fastinit::uniform_op(), t, g, a, b);
  });
  m.def("fill_normal", [](const at::Tensor& t, const py::object& g, double mean, double std) {
    return fill_one(fastinit::normal_op(), t, g, mean, std);
  });
  m.def("fill_trunc_normal", [](const at::Tensor& t, const py::object& g, double mean,
                                double std, double a, double b) {
    return fill_one(fastinit::trunc_normal_op(), t, g, mean, std, a, b);
  });
  m.def("uniform_batch", &fastinit::uniform_batch);
  m.def("normal_batch", &fastinit::normal_batch);
  m.def("trunc_normal_batch", &fastinit::trunc_normal_batch);
  m.def("mixture_batch", &fastinit::mixture_batch);
}
