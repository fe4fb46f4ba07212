// The schemas of every fastinit op, defined from ops.h's lists (Note [the
// op registry]), and the handles of the seeded ops. Kernels are registered
// per dispatch key in csrc/<key>/, each of its op's signature in ops.h,
// which the dispatcher checks against the schema when it registers them.
//
// The random ops fill lists of tensors in place with per-tensor seeds and
// parameters (Note [fastinit RNG contract]); a single-tensor call is a list
// of one. Seeds are arguments, not generator state, so the ops are
// deterministic functions of their inputs.
#include "ops.h"

#include <torch/library.h>

#include "cpu/kernel_table.h"

namespace fastinit::ops {
namespace {

template <typename Signature>
c10::TypedOperatorHandle<Signature> find(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

}  // namespace

const c10::TypedOperatorHandle<Uniform>& uniform_op() {
  static const auto handle = find<Uniform>("fastinit::uniform_");
  return handle;
}
const c10::TypedOperatorHandle<Normal>& normal_op() {
  static const auto handle = find<Normal>("fastinit::normal_");
  return handle;
}
const c10::TypedOperatorHandle<TruncNormal>& trunc_normal_op() {
  static const auto handle = find<TruncNormal>("fastinit::trunc_normal_");
  return handle;
}
const c10::TypedOperatorHandle<Mixture>& mixture_op() {
  static const auto handle = find<Mixture>("fastinit::mixture_");
  return handle;
}
const c10::TypedOperatorHandle<Sparse>& sparse_op() {
  static const auto handle = find<Sparse>("fastinit::sparse_");
  return handle;
}

}  // namespace fastinit::ops

TORCH_LIBRARY(fastinit, m) {
  // Each schema from Note [the op registry].
#define FASTINIT_DEFINE(name, signature, arguments) m.def(#name arguments);
  FASTINIT_SEEDED_OPS(FASTINIT_DEFINE)
  FASTINIT_DRAWING_OPS(FASTINIT_DEFINE)
#undef FASTINIT_DEFINE
  // Which instruction-set kernels this process uses: portable, avx2, avx512.
  m.def("cpu_kernels() -> str", [] { return std::string(fastinit::cpu::kernels().name); });
}
