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

at::OptionalIntArrayRef windows(const OptionalInts& list) {
  return list.has_value() ? at::OptionalIntArrayRef(*list) : std::nullopt;
}

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
  // The batched ops on Python lists (shards: global_shapes and offsets).
  m.def(
      "uniform_batch",
      [](const Tensors& tensors, const Ints& seeds, const Doubles& low, const Doubles& high,
         const OptionalInts& global_shapes, const OptionalInts& offsets) {
        call_below_autograd(ops::uniform_op(), tensors, at::IntArrayRef(seeds),
                            at::ArrayRef<double>(low), at::ArrayRef<double>(high),
                            windows(global_shapes), windows(offsets));
      },
      py::arg("tensors"), py::arg("seeds"), py::arg("low"), py::arg("high"),
      py::arg("global_shapes") = py::none(), py::arg("offsets") = py::none());
  m.def(
      "normal_batch",
      [](const Tensors& tensors, const Ints& seeds, const Doubles& mean, const Doubles& std,
         const OptionalInts& global_shapes, const OptionalInts& offsets) {
        call_below_autograd(ops::normal_op(), tensors, at::IntArrayRef(seeds),
                            at::ArrayRef<double>(mean), at::ArrayRef<double>(std),
                            windows(global_shapes), windows(offsets));
      },
      py::arg("tensors"), py::arg("seeds"), py::arg("mean"), py::arg("std"),
      py::arg("global_shapes") = py::none(), py::arg("offsets") = py::none());
  m.def(
      "trunc_normal_batch",
      [](const Tensors& tensors, const Ints& seeds, const Doubles& mean, const Doubles& std,
         const Doubles& a, const Doubles& b, const OptionalInts& global_shapes,
         const OptionalInts& offsets) {
        call_below_autograd(ops::trunc_normal_op(), tensors, at::IntArrayRef(seeds),
                            at::ArrayRef<double>(mean), at::ArrayRef<double>(std),
                            at::ArrayRef<double>(a), at::ArrayRef<double>(b),
                            windows(global_shapes), windows(offsets));
      },
      py::arg("tensors"), py::arg("seeds"), py::arg("mean"), py::arg("std"), py::arg("a"),
      py::arg("b"), py::arg("global_shapes") = py::none(), py::arg("offsets") = py::none());
  m.def(
      "mixture_batch",
      [](const Tensors& tensors, const Ints& seeds, const Ints& counts,
         const Doubles& probabilities, const Ints& kinds, const Doubles& parameters,
         const OptionalInts& global_shapes, const OptionalInts& offsets) {
        call_below_autograd(ops::mixture_op(), tensors, at::IntArrayRef(seeds),
                            at::IntArrayRef(counts), at::ArrayRef<double>(probabilities),
                            at::IntArrayRef(kinds), at::ArrayRef<double>(parameters),
                            windows(global_shapes), windows(offsets));
      },
      py::arg("tensors"), py::arg("seeds"), py::arg("counts"), py::arg("probabilities"),
      py::arg("kinds"), py::arg("parameters"), py::arg("global_shapes") = py::none(),
      py::arg("offsets") = py::none());
}

}  // namespace fastinit::python
