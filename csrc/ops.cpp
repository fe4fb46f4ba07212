// The schemas of every fastinit op (their C++ signatures are in ops.h).
// Kernels are registered per dispatch key in csrc/<key>/.
//
// The random ops fill lists of tensors in place with per-tensor seeds and
// parameters (Note [fastinit RNG contract]); a single-tensor call is a list
// of one. Seeds are arguments, not generator state, so the ops are
// deterministic functions of their inputs.
//
// The random ops take optional `global_shapes` and `offsets`: tensor i is
// then the block at those offsets of a larger tensor (a shard) and gets
// that block's values (Note [shard windows] in fastinit/layout.h); each list
// holds tensor.dim() numbers per tensor.
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
  m.def(
      "uniform_(Tensor(a!)[] tensors, int[] seeds, float[] low, "
      "float[] high, int[]? global_shapes=None, int[]? offsets=None) -> ()");
  m.def(
      "normal_(Tensor(a!)[] tensors, int[] seeds, float[] mean, "
      "float[] std, int[]? global_shapes=None, int[]? offsets=None) -> ()");
  m.def(
      "trunc_normal_(Tensor(a!)[] tensors, int[] seeds, float[] mean, "
      "float[] std, float[] a, float[] b, int[]? global_shapes=None, int[]? offsets=None) -> ()");
  m.def("sparse_(Tensor(a!) tensor, int seed, float sparsity, float std) -> ()");
  // Destination i (rows x cols, trailing dims flattened) becomes gain times
  // a Haar-distributed orthogonal matrix built from the gaussian workspace
  // gaussians[i] of shape (min(rows, cols), max(rows, cols)), which it
  // overwrites (Note [orthogonal from reflectors]); the workspace may be
  // the destination's own memory when that is contiguous, rows <= cols.
  m.def("orthogonal_from_(Tensor(a!)[] destinations, Tensor(b!) gaussians, float gain) -> ()");
  // Tensor i has counts[i] components, listed in order across tensors:
  // probability, kind (MixtureParams::Kind: 0 constant, 1 uniform, 2
  // normal, 3 truncated normal) and four parameters per component, (value,
  // -, -, -), (a, b, -, -), (mean, std, -, -) or (mean, std, a, b).
  m.def(
      "mixture_(Tensor(a!)[] tensors, int[] seeds, int[] counts, "
      "float[] probabilities, int[] kinds, float[] parameters, "
      "int[]? global_shapes=None, int[]? offsets=None) -> ()");
  // The same fills drawing their own seeds, one per tensor in order, from
  // `generator` (default: torch's default CPU generator) when they run:
  // what the Python functions call under torch.compile, where drawing a
  // seed must happen at run time, not once at trace time. Meta tensors draw
  // nothing.
  m.def(
      "uniform_from_generator_(Tensor(a!)[] tensors, float[] low, float[] high, "
      "Generator? generator=None) -> ()");
  m.def(
      "normal_from_generator_(Tensor(a!)[] tensors, float[] mean, float[] std, "
      "Generator? generator=None) -> ()");
  m.def(
      "trunc_normal_from_generator_(Tensor(a!)[] tensors, float[] mean, float[] std, "
      "float[] a, float[] b, Generator? generator=None) -> ()");
  m.def(
      "mixture_from_generator_(Tensor(a!)[] tensors, int[] counts, float[] probabilities, "
      "int[] kinds, float[] parameters, Generator? generator=None) -> ()");
  m.def(
      "sparse_from_generator_(Tensor(a!) tensor, float sparsity, float std, "
      "Generator? generator=None) -> ()");
  // Which instruction-set kernels this process uses: portable, avx2, avx512.
  m.def("cpu_kernels() -> str", [] { return std::string(fastinit::cpu::kernels().name); });
}
