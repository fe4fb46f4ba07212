"""The bridge to the C++ extension, and nothing else: it loads `fastinit._C`
(which registers torch.ops.fastinit) and re-exports what the Python side
uses of it. Fills go through fastinit.fills."""

import torch

from . import _C  # registers torch.ops.fastinit
from .generators import default_generator_variable

ops = torch.ops.fastinit

# The C++ helpers the Python side uses, all reached through this module.
module_tree = _C.module_tree  # Note [cached plans] in planning.py
empty_flat = _C.empty_flat  # Note [populated allocations] in csrc/python/allocation.cpp
find_holders = _C.find_holders  # Note [finding holders] in csrc/python/holders.cpp
held_only_by_its_python_object = _C.held_only_by_its_python_object  # Note [unreachable pending fills] in deferral.py
LARGE_MATRIX_ELEMENTS: int = _C.LARGE_MATRIX_ELEMENTS  # csrc/orthogonal_householder.h

# The version of the values a seed gives (kStreamVersion in
# csrc/include/fastinit/params.h, Note [fastinit RNG contract]).
STREAM_VERSION: int = _C.STREAM_VERSION

# The mixture's numbers per component and component kinds, owned by
# MixtureParams in csrc/include/fastinit/params.h (which also bounds the
# component count; the op checks it).
MIXTURE_PARAMETERS_PER_COMPONENT: int = _C.MIXTURE_PARAMETERS_PER_COMPONENT
MIXTURE_KINDS: dict[str, int] = dict(_C.MIXTURE_KINDS)

# The dtypes fastinit fills (kFilledDtypes in csrc/checks.h): float32,
# float64, float16 and bfloat16, not the float8/float4 types torch also
# counts as floating.
FILLED_DTYPES: frozenset = frozenset(getattr(torch, name) for name in _C.FILLED_DTYPES)

# The op registry (Note [the op registry] in csrc/ops.h): the seeded ops and
# those drawing their seeds when they run. A random kind is a distribution
# filling lists of tensors both ways ("uniform" for uniform_ and
# uniform_from_generator_).
SEEDED_OPS: tuple = tuple(_C.SEEDED_OPS)
DRAWING_OPS: tuple = tuple(_C.DRAWING_OPS)
RANDOM_KINDS: frozenset = frozenset(
    name[:-len("_from_generator_")] for name in DRAWING_OPS
    if name[:-len("from_generator_")] in SEEDED_OPS
    and str(getattr(ops, name).default._schema.arguments[0].type) == "List[Tensor]")

# The C++ fast paths of one tensor (function, tensor, generator, *params):
# draw one seed (none for meta tensors) from
# generators.resolve_generator(generator) and call the op through the C++
# dispatcher without autograd history (Note [calls below autograd] in
# csrc/python/fills.cpp); a dtype that is not floating point raises
# NotImplementedError naming `function`, the public function. Eager only
# (fills.fill_tensor).
FAST_PATHS = {"uniform": _C.fill_uniform, "normal": _C.fill_normal, "trunc_normal": _C.fill_trunc_normal}

# The eager entry of each random kind (Note [eager entries] in
# csrc/python/fills.cpp): _C.<kind>_(tensors, seeds, *op parameter lists,
# global_shapes, offsets), lists in, below autograd as the fast paths.
BATCHED_FILLS = {kind: getattr(_C, f"{kind}_") for kind in RANDOM_KINDS}

_draw_seeds = torch.compiler.disable(_C.draw_seeds)

# The C++ entry points taking a generator read using_generator()'s too.
_C.set_default_generator_variable(default_generator_variable)


def draw_seeds(generator: torch.Generator | None, count: int) -> list[int]:
    """`count` 63-bit seeds from `generator` (default: torch's default CPU
    generator), in order. Drawing n seeds at once equals n single draws."""
    return _draw_seeds(generator, count)  # resolves `generator` as generators.resolve_generator does
