// ADInplaceOrView kernels of the ops that write into their tensor arguments.
// After the write, the version counter of every written tensor is bumped, as
// torch's own in-place ops (and so torch.nn.init) do: autograd then refuses
// a backward through a tensor that a fill overwrote after it was saved, and
// an inference tensor is refused outside inference mode. One boxed kernel
// serves every op: the written arguments are the schema's Tensor(a!) and
// Tensor(a!)[] ones. The *_from_generator_ ops get no kernel here: they
// write through the seeded ops, which bump the versions.
#include "version_counters.h"

#include <vector>

#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/library.h>

#include "../ops.h"

namespace fastinit {

void bump_versions(at::TensorList written) {
  for (const at::Tensor& tensor : written) {
    torch::autograd::impl::bump_version(tensor);
  }
}

namespace inplace_or_view {
namespace {

void write_then_bump_versions(const c10::OperatorHandle& op, c10::DispatchKeySet keys,
                              torch::jit::Stack* stack) {
  const auto& arguments = op.schema().arguments();
  const size_t first = stack->size() - arguments.size();
  std::vector<at::Tensor> written;
  for (size_t i = 0; i < arguments.size(); ++i) {
    const c10::AliasInfo* alias = arguments[i].alias_info();
    if (alias == nullptr || !alias->isWrite()) {
      continue;
    }
    const c10::IValue& value = (*stack)[first + i];
    if (value.isTensor()) {
      written.push_back(value.toTensor());
    } else if (value.isTensorList()) {
      for (const at::Tensor& tensor : value.toTensorVector()) {
        written.push_back(tensor);
      }
    }
  }
  {
    const at::AutoDispatchBelowADInplaceOrView below;
    op.redispatchBoxed(keys & c10::after_ADInplaceOrView_keyset, stack);
  }
  bump_versions(written);
}

}  // namespace

TORCH_LIBRARY_IMPL(fastinit, ADInplaceOrView, m) {
  // Every seeded op of Note [the op registry] in ops.h.
#define FASTINIT_BUMP_VERSIONS(name, signature, arguments) \
  m.impl(#name, torch::CppFunction::makeFromBoxedFunction<&write_then_bump_versions>());
  FASTINIT_SEEDED_OPS(FASTINIT_BUMP_VERSIONS)
#undef FASTINIT_BUMP_VERSIONS
}

}  // namespace inplace_or_view
}  // namespace fastinit
