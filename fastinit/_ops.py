"""The bridge to the C++ ops: loads the extension, draws seeds, and holds the
fast single-tensor paths (Note [fastinit RNG contract] in
csrc/include/fastinit/philox.h)."""

import contextlib
import contextvars

import torch

from . import _C  # registers torch.ops.fastinit
from .sharding import localize

ops = torch.ops.fastinit

# The C++ helpers the Python side uses, all reached through this module.
module_tree = _C.module_tree  # Note [cached plans] in model.py
empty_flat = _C.empty_flat  # Note [populated allocations] in csrc/python_module.cpp
find_holders = _C.find_holders  # Note [finding holders] in csrc/python/holders.cpp
LARGE_MATRIX_ELEMENTS: int = _C.LARGE_MATRIX_ELEMENTS  # csrc/orthogonal_householder.h

# fill_*(tensor, generator, *params) -> bool: draw one seed (none for meta
# tensors) from resolve_generator(generator) and call the op through the C++
# dispatcher without autograd history; False, touching nothing, for a dtype
# that is not floating point. Eager only: callers test
# torch.compiler.is_compiling() first and, while compiling, use the ops that
# draw their seed when the graph runs (a seed drawn at trace time would be
# replayed by every call). Not wrapped in torch.compiler.disable, which costs
# half a microsecond per call.
fill_uniform = _C.fill_uniform
fill_normal = _C.fill_normal
fill_trunc_normal = _C.fill_trunc_normal


_draw_seeds = torch.compiler.disable(_C.draw_seeds)


# The generator that `generator=None` means inside using_generator(); the
# C++ entry points taking a generator read it too.
_default_generator: contextvars.ContextVar = contextvars.ContextVar("fastinit_generator", default=None)
_C.set_default_generator_variable(_default_generator)


@contextlib.contextmanager
def using_generator(generator: torch.Generator | None):
    """Within the block, fastinit's initializers called without a generator
    draw from `generator` (used to run a module's own reset_parameters under
    patched() with the generator given to reset_parameters/materialize)."""
    token = _default_generator.set(generator)
    try:
        yield
    finally:
        _default_generator.reset(token)


# Dynamo traces ContextVar.get from torch 2.14 on. With older torch a
# compiled call takes generator=None as torch's default generator, ignoring
# using_generator() (which only reset_parameters/materialize set, around
# eager code).
_TRACES_CONTEXT_VARIABLES = tuple(int(part) for part in torch.__version__.split(".")[:2]) >= (2, 14)


def resolve_generator(generator: torch.Generator | None) -> torch.Generator | None:
    if generator is not None:
        return generator
    if not _TRACES_CONTEXT_VARIABLES and torch.compiler.is_compiling():
        return None
    return _default_generator.get()


def draw_seeds(generator: torch.Generator | None, count: int) -> list[int]:
    """`count` 63-bit seeds from `generator` (default: torch's default CPU
    generator), in order. Drawing n seeds at once equals n single draws."""
    return _draw_seeds(generator, count)  # resolves `generator` as resolve_generator does


def require_floating(name: str, tensor: torch.Tensor) -> None:
    """Rejects integer, bool and complex destinations, naming `name`."""
    if not tensor.is_floating_point():
        raise NotImplementedError(
            f"fastinit::{name}: unsupported dtype {tensor.dtype}; "
            "expected float32, float64, float16 or bfloat16"
        )


# kind -> (the op taking seeds, the op drawing its own seeds when it runs)
_RANDOM_OPS = {
    "uniform": (ops.uniform_, ops.uniform_from_generator_),
    "normal": (ops.normal_, ops.normal_from_generator_),
    "trunc_normal": (ops.trunc_normal_, ops.trunc_normal_from_generator_),
    "mixture": (ops.mixture_, ops.mixture_from_generator_),
}
RANDOM_KINDS = frozenset(_RANDOM_OPS)


def random_op(kind: str):
    """The batched op of distribution `kind` that takes seeds."""
    return _RANDOM_OPS[kind][0]


def op_parameters(kind: str, params: list) -> list[list]:
    """The ops' parameter lists for one specs.Fill params tuple per tensor:
    one number per tensor, or for mixtures the component counts and the
    components' numbers in order."""
    if kind == "mixture":
        counts = [len(p[1]) for p in params]
        return [counts] + [[x for p in params for x in p[field]] for field in range(6)]
    return [list(column) for column in zip(*params)]


# kind -> _C.*_batch(tensors, seeds, *op parameter lists): the batched op
# on whole plain tensors, called from C++ below autograd (as the fill_*
# above), which spares the few hundred nanoseconds per tensor that
# converting the lists for a torch.ops call costs.
_BATCH_FILLS = {
    "uniform": _C.uniform_batch,
    "normal": _C.normal_batch,
    "trunc_normal": _C.trunc_normal_batch,
    "mixture": _C.mixture_batch,
}


def fill_plain(kind: str, tensors: list, seeds: list, op_params: list) -> None:
    """One batched op call of distribution `kind` on plain (not DTensor)
    tensors: tensor i gets seeds[i], op_params are op_parameters' lists."""
    _BATCH_FILLS[kind](tensors, seeds, *op_params)


def fill_random(kind: str, tensors: list, seeds: list, params: list) -> None:
    """One batched op call of distribution `kind` ("uniform", "normal",
    "trunc_normal", "mixture" with specs.Fill params): tensor i gets seeds[i]
    and params[i]; a DTensor's local shard gets its slice of the global
    tensor's values (fastinit.sharding)."""
    tensors, seeds, params, windows = localize(tensors, seeds, params)
    if not tensors:  # e.g. only empty shards
        return
    if windows:
        with torch.no_grad():
            random_op(kind)(tensors, seeds, *op_parameters(kind, params), **windows)
    else:
        fill_plain(kind, tensors, seeds, op_parameters(kind, params))


def fill_random_one(kind: str, tensor, generator, params: tuple) -> None:
    """fill_random on one tensor with a seed drawn from `generator` (none
    for meta tensors)."""
    if not tensor.is_meta:
        fill_random(kind, [tensor], draw_seeds(generator, 1), [params])


def fill_random_drawing(kind: str, tensor, generator, params: tuple) -> None:
    """fill_random_one for torch.compile: the op draws the seed when the
    compiled code runs, not once at trace time."""
    with torch.no_grad():
        _RANDOM_OPS[kind][1]([tensor], *op_parameters(kind, [params]), resolve_generator(generator))
