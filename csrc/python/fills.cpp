// Note [calls below autograd]
// ~~~~~~~~~~~~~~~~~~~~~~~~~~~
// The fast paths call an op through the dispatcher with the GIL released,
// starting below the Autograd and ADInplaceOrView keys, then bump every
// tensor's version as the ADInplaceOrView kernel would. torch.nn.init fills
// under no_grad, where those layers do nothing else, and passing through
// them boxes every argument (about a microsecond per call); converting
// Python lists for a torch.ops call costs a few hundred nanoseconds per
// tensor more. Dispatch modes still see the op. Only eager code calls
// these: torch.compile traces the ops of torch.ops.fastinit.
#include "fills.h"

#include <string>
#include <type_traits>

#include <ATen/core/dispatch/Dispatcher.h>

#include "../checks.h"
#include "../inplace_or_view/version_counters.h"
#include "../ops.h"
#include "../seeds.h"
#include "generators.h"

namespace py = pybind11;

namespace fastinit::python {
namespace {

using Doubles = std::vector<double>;
using Ints = std::vector<int64_t>;
using Tensors = std::vector<at::Tensor>;
using OptionalInts = std::optional<Ints>;

template <typename Handle, typename... Args>
void call_below_autograd(const Handle& handle, at::TensorList tensors, const Args&... args) {
  {
    py::gil_scoped_release no_gil;
    const at::AutoDispatchBelowADInplaceOrView below;
    handle.call(tensors, args...);
  }
  bump_versions(tensors);
}

// One seed (none for a meta tensor, as torch's initializers leave the
// generator alone for them), one op call on the list of one tensor with one
// value per parameter. `function` is the public function, named by the
// error for a dtype that is not floating point.
template <typename Handle, typename... Params>
void fill_single_tensor(const Handle& handle, const char* function, const at::Tensor& tensor,
                        py::handle generator, Params... params) {
  check_floating(function, tensor);
  const int64_t seed = tensor.is_meta() ? 0 : draw_seeds(generator, 1)[0];
  call_below_autograd(handle, tensor, at::IntArrayRef(seed), at::ArrayRef<double>(params)...,
                      std::nullopt, std::nullopt);
}

// Note [eager entries]
// ~~~~~~~~~~~~~~~~~~~~
// Every seeded op of the registry (Note [the op registry] in ops.h) gets an
// eager entry _C.<name>, taking the op's arguments positionally as Python
// lists and numbers: the op called below ADInplaceOrView with the GIL
// released (Note [calls below autograd]), then the versions of its tensor
// arguments bumped (every tensor a seeded op takes is one it writes;
// tests/test_opcheck.py reads that from the schemas). EagerEntry derives
// the Python-side type of each argument from the op's C++ signature, so an
// op added to the registry gets its entry with nothing written here.

// The type pybind converts a Python argument to, for an op argument of type T.
template <typename T>
using FromPython = std::conditional_t<
    std::is_same_v<T, at::TensorList>, Tensors,
    std::conditional_t<
        std::is_same_v<T, at::IntArrayRef>, Ints,
        std::conditional_t<std::is_same_v<T, ops::Numbers>, Doubles,
                           std::conditional_t<std::is_same_v<T, ops::Windows>, OptionalInts, T>>>>;

template <typename T>
const T& to_op(const T& value) {
  return value;  // vectors convert to the op's ArrayRefs as they are passed
}
at::OptionalIntArrayRef to_op(const OptionalInts& list) {
  return list.has_value() ? at::OptionalIntArrayRef(*list) : std::nullopt;
}

void collect_written(Tensors& written, const at::Tensor& tensor) {
  written.push_back(tensor);
}
void collect_written(Tensors& written, const Tensors& tensors) {
  written.insert(written.end(), tensors.begin(), tensors.end());
}
template <typename T>
void collect_written(Tensors&, const T&) {}

template <typename Signature>
struct EagerEntry;

template <typename... Args>
struct EagerEntry<void(Args...)> {
  static void define(py::module_& m, const char* name) {
    const auto handle = c10::Dispatcher::singleton()
                            .findSchemaOrThrow((std::string("fastinit::") + name).c_str(), "")
                            .typed<void(Args...)>();
    m.def(name, [handle](const FromPython<std::decay_t<Args>>&... args) {
      {
        py::gil_scoped_release no_gil;
        const at::AutoDispatchBelowADInplaceOrView below;
        handle.call(to_op(args)...);
      }
      Tensors written;
      (collect_written(written, args), ...);
      bump_versions(written);
    });
  }
};

}  // namespace

void define_fills(py::module_& m) {
  m.def("fill_uniform", [](const char* function, const at::Tensor& t, py::handle g, double a,
                           double b) {
    fill_single_tensor(ops::uniform_op(), function, t, g, a, b);
  });
  m.def("fill_normal", [](const char* function, const at::Tensor& t, py::handle g, double mean,
                          double std) {
    fill_single_tensor(ops::normal_op(), function, t, g, mean, std);
  });
  m.def("fill_trunc_normal", [](const char* function, const at::Tensor& t, py::handle g,
                                double mean, double std, double a, double b) {
    fill_single_tensor(ops::trunc_normal_op(), function, t, g, mean, std, a, b);
  });
#define FASTINIT_EAGER_ENTRY(name, signature, schema) \
  EagerEntry<ops::signature>::define(m, #name);
  FASTINIT_SEEDED_OPS(FASTINIT_EAGER_ENTRY)
#undef FASTINIT_EAGER_ENTRY
}

}  // namespace fastinit::python
