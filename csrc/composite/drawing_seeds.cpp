// The *_from_generator_ ops: draw one seed per tensor, then call the op that
// takes seeds, through the dispatcher. Backend-independent, so registered as
// CompositeExplicitAutograd (every device) with a Meta kernel that draws
// nothing (meta and fake tensors, as during torch.compile tracing).
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "../seeds.h"

namespace fastinit::composite {
namespace {

using Windows = at::OptionalIntArrayRef;

template <typename Signature>
c10::TypedOperatorHandle<Signature> find(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

// Seeds for `tensors`: drawn unless they are meta tensors.
std::vector<int64_t> seeds_for(at::TensorList tensors, std::optional<at::Generator> generator,
                               bool draw) {
  return draw ? draw_seeds(std::move(generator), static_cast<int64_t>(tensors.size()))
              : std::vector<int64_t>(tensors.size(), 0);
}

// uniform_ and normal_: two numbers per tensor (low and high, mean and std).
template <bool kDraw, const char* kOp>
void two_numbers(at::TensorList tensors, at::ArrayRef<double> first, at::ArrayRef<double> second,
                 std::optional<at::Generator> generator) {
  using Signature = void(at::TensorList, at::IntArrayRef, at::ArrayRef<double>,
                         at::ArrayRef<double>, Windows, Windows);
  static const auto op = find<Signature>(kOp);
  op.call(tensors, seeds_for(tensors, generator, kDraw), first, second, std::nullopt,
          std::nullopt);
}
constexpr char kUniform[] = "fastinit::uniform_";
constexpr char kNormal[] = "fastinit::normal_";

template <bool kDraw>
void trunc_normal(at::TensorList tensors, at::ArrayRef<double> mean, at::ArrayRef<double> std,
                  at::ArrayRef<double> a, at::ArrayRef<double> b,
                  std::optional<at::Generator> generator) {
  using Signature = void(at::TensorList, at::IntArrayRef, at::ArrayRef<double>,
                         at::ArrayRef<double>, at::ArrayRef<double>, at::ArrayRef<double>,
                         Windows, Windows);
  static const auto op = find<Signature>("fastinit::trunc_normal_");
  op.call(tensors, seeds_for(tensors, generator, kDraw), mean, std, a, b, std::nullopt,
            std::nullopt);
}

template <bool kDraw>
void mixture(at::TensorList tensors, at::IntArrayRef counts, at::ArrayRef<double> probabilities,
             at::IntArrayRef kinds, at::ArrayRef<double> first, at::ArrayRef<double> second,
             at::ArrayRef<double> third, at::ArrayRef<double> fourth,
             std::optional<at::Generator> generator) {
  using Signature = void(at::TensorList, at::IntArrayRef, at::IntArrayRef, at::ArrayRef<double>,
                         at::IntArrayRef, at::ArrayRef<double>, at::ArrayRef<double>,
                         at::ArrayRef<double>, at::ArrayRef<double>, Windows, Windows);
  static const auto op = find<Signature>("fastinit::mixture_");
  op.call(tensors, seeds_for(tensors, generator, kDraw), counts, probabilities, kinds, first,
            second, third, fourth, std::nullopt, std::nullopt);
}

template <bool kDraw>
void sparse(const at::Tensor& tensor, double sparsity, double std,
            std::optional<at::Generator> generator) {
  using Signature = void(const at::Tensor&, int64_t, double, double);
  static const auto op = find<Signature>("fastinit::sparse_");
  op.call(tensor, seeds_for({tensor}, generator, kDraw)[0], sparsity, std);
}

// The kernels that draw (kDraw) or, for meta and fake tensors, do not.
template <bool kDraw>
void register_kernels(torch::Library& m) {
  m.impl("uniform_from_generator_", &two_numbers<kDraw, kUniform>);
  m.impl("normal_from_generator_", &two_numbers<kDraw, kNormal>);
  m.impl("trunc_normal_from_generator_", &trunc_normal<kDraw>);
  m.impl("mixture_from_generator_", &mixture<kDraw>);
  m.impl("sparse_from_generator_", &sparse<kDraw>);
}

}  // namespace

TORCH_LIBRARY_IMPL(fastinit, CompositeExplicitAutograd, m) { register_kernels<true>(m); }

TORCH_LIBRARY_IMPL(fastinit, Meta, m) { register_kernels<false>(m); }

}  // namespace fastinit::composite
