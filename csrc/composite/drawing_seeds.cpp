// The *_from_generator_ ops: draw one seed per tensor, then call the op that
// takes seeds, through the dispatcher. Backend-independent, so registered as
// CompositeExplicitAutograd (every device) with a Meta kernel that draws
// nothing (meta and fake tensors, as during torch.compile tracing).
#include <type_traits>

#include <torch/library.h>

#include "../ops.h"
#include "../seeds.h"

namespace fastinit::composite {
namespace {

// Seeds for `tensors`: drawn unless they are meta tensors.
std::vector<int64_t> seeds_for(at::TensorList tensors, ops::Generator generator, bool draw) {
  return draw ? draw_seeds(std::move(generator), static_cast<int64_t>(tensors.size()))
              : std::vector<int64_t>(tensors.size(), 0);
}

template <bool kDraw>
struct Kernels {
  static void uniform(at::TensorList tensors, ops::Numbers low, ops::Numbers high,
                      ops::Generator generator) {
    ops::uniform_op().call(tensors, seeds_for(tensors, generator, kDraw), low, high,
                           std::nullopt, std::nullopt);
  }

  static void normal(at::TensorList tensors, ops::Numbers mean, ops::Numbers std,
                     ops::Generator generator) {
    ops::normal_op().call(tensors, seeds_for(tensors, generator, kDraw), mean, std,
                          std::nullopt, std::nullopt);
  }

  static void trunc_normal(at::TensorList tensors, ops::Numbers mean, ops::Numbers std,
                           ops::Numbers a, ops::Numbers b, ops::Generator generator) {
    ops::trunc_normal_op().call(tensors, seeds_for(tensors, generator, kDraw), mean, std, a, b,
                                std::nullopt, std::nullopt);
  }

  static void mixture(at::TensorList tensors, at::IntArrayRef counts, ops::Numbers probabilities,
                      at::IntArrayRef kinds, ops::Numbers parameters, ops::Generator generator) {
    ops::mixture_op().call(tensors, seeds_for(tensors, generator, kDraw), counts, probabilities,
                           kinds, parameters, std::nullopt, std::nullopt);
  }

  static void sparse(const at::Tensor& tensor, double sparsity, double std,
                     ops::Generator generator) {
    ops::sparse_op().call(tensor, seeds_for(tensor, generator, kDraw)[0], sparsity, std);
  }

  static void register_to(torch::Library& m) {
    static_assert(std::is_same_v<decltype(uniform), ops::UniformFromGenerator>);
    static_assert(std::is_same_v<decltype(normal), ops::NormalFromGenerator>);
    static_assert(std::is_same_v<decltype(trunc_normal), ops::TruncNormalFromGenerator>);
    static_assert(std::is_same_v<decltype(mixture), ops::MixtureFromGenerator>);
    static_assert(std::is_same_v<decltype(sparse), ops::SparseFromGenerator>);
    m.impl("uniform_from_generator_", &uniform);
    m.impl("normal_from_generator_", &normal);
    m.impl("trunc_normal_from_generator_", &trunc_normal);
    m.impl("mixture_from_generator_", &mixture);
    m.impl("sparse_from_generator_", &sparse);
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(fastinit, CompositeExplicitAutograd, m) { Kernels<true>::register_to(m); }

TORCH_LIBRARY_IMPL(fastinit, Meta, m) { Kernels<false>::register_to(m); }

}  // namespace fastinit::composite
