"""The bridge to the C++ ops: loads the extension, draws seeds, and holds the
fast single-tensor paths (Note [fastinit RNG contract] in
csrc/include/fastinit/philox.h)."""

import contextlib
import contextvars

import torch

from . import _C  # registers torch.ops.fastinit
from .generators import default_generator_variable, resolve_generator
from .sharding import PLAIN_TENSOR_TYPES, localize

ops = torch.ops.fastinit

# The C++ helpers the Python side uses, all reached through this module.
module_tree = _C.module_tree  # Note [cached plans] in planning.py
empty_flat = _C.empty_flat  # Note [populated allocations] in csrc/python/allocation.cpp
find_holders = _C.find_holders  # Note [finding holders] in csrc/python/holders.cpp
held_only_by_its_python_object = _C.held_only_by_its_python_object  # Note [unreachable pending fills] in deferral.py
LARGE_MATRIX_ELEMENTS: int = _C.LARGE_MATRIX_ELEMENTS  # csrc/orthogonal_householder.h

# The C++ fast paths of one tensor (function, tensor, generator, *params):
# draw one seed (none for meta tensors) from
# generators.resolve_generator(generator) and call the op through the C++
# dispatcher without autograd history (Note [calls below autograd] in
# csrc/python/fills.cpp); a dtype that is not floating point raises
# NotImplementedError naming `function`, the public function, as
# require_floating does. Eager only: fill_tensor tests
# torch.compiler.is_compiling() first and, while compiling, uses the ops
# that draw their seed when the graph runs (a seed drawn at trace time would
# be replayed by every call). Not wrapped in torch.compiler.disable, whose
# cost per call is a fair part of a small fill's.
_FAST_PATHS = {"uniform": _C.fill_uniform, "normal": _C.fill_normal, "trunc_normal": _C.fill_trunc_normal}

# The version of the values a seed gives (kStreamVersion in
# csrc/include/fastinit/params.h, Note [fastinit RNG contract]).
STREAM_VERSION: int = _C.STREAM_VERSION

# The mixture's numbers per component and component kinds, owned by
# MixtureParams in csrc/include/fastinit/params.h (which also bounds the
# component count; the op checks it).
MIXTURE_PARAMETERS_PER_COMPONENT: int = _C.MIXTURE_PARAMETERS_PER_COMPONENT
MIXTURE_KINDS: dict[str, int] = dict(_C.MIXTURE_KINDS)


_draw_seeds = torch.compiler.disable(_C.draw_seeds)


# The C++ entry points taking a generator read using_generator()'s too.
_C.set_default_generator_variable(default_generator_variable)


def draw_seeds(generator: torch.Generator | None, count: int) -> list[int]:
    """`count` 63-bit seeds from `generator` (default: torch's default CPU
    generator), in order. Drawing n seeds at once equals n single draws."""
    return _draw_seeds(generator, count)  # resolves `generator` as generators.resolve_generator does


# The name keys of the keyed block the thread is in (fastinit.keyed), or None.
_name_keys: contextvars.ContextVar = contextvars.ContextVar("fastinit_name_keys", default=None)


@contextlib.contextmanager
def using_name_keys(keys):
    """Within the block, seeds_for keys seeds by name with `keys` (a
    fastinit.keyed.NameKeys; None: drawn from the generator again)."""
    token = _name_keys.set(keys)
    try:
        yield
    finally:
        _name_keys.reset(token)


def current_name_keys():
    """The NameKeys of the keyed block this thread is in, or None."""
    return _name_keys.get()


def seeds_for(tensors: list, generator: torch.Generator | None) -> list[int]:
    """The seeds of fills of `tensors`, in order: keyed by their names in a
    keyed block (Note [name-keyed seeds] in fastinit/keyed.py), else drawn
    from `generator` as draw_seeds does."""
    keys = _name_keys.get()
    return keys.seeds(tensors) if keys is not None else draw_seeds(generator, len(tensors))


# The dtypes fastinit fills (kFilledDtypes in csrc/checks.h): float32,
# float64, float16 and bfloat16, not the float8/float4 types torch also
# counts as floating.
FILLED_DTYPES: frozenset = frozenset(getattr(torch, name) for name in _C.FILLED_DTYPES)


def require_floating(name: str, tensor: torch.Tensor) -> None:
    """Rejects destinations of a dtype outside FILLED_DTYPES, naming `name`:
    the message of csrc/checks.cpp's check_floating (which the ops and the
    fill_* paths use), in Python so that torch.compile traces it."""
    if tensor.dtype not in FILLED_DTYPES:
        raise NotImplementedError(
            f"fastinit::{name}: unsupported dtype {tensor.dtype}; "
            "expected float32, float64, float16 or bfloat16"
        )


# kind -> (the op drawing its own seeds when it runs (traced code), the
# batched fill from Python lists in eager code: _C.*_batch(tensors, seeds,
# *op parameter lists, global_shapes=None, offsets=None))
_RANDOM_OPS = {
    "uniform": (ops.uniform_from_generator_, _C.uniform_batch),
    "normal": (ops.normal_from_generator_, _C.normal_batch),
    "trunc_normal": (ops.trunc_normal_from_generator_, _C.trunc_normal_batch),
    "mixture": (ops.mixture_from_generator_, _C.mixture_batch),
}
RANDOM_KINDS = frozenset(_RANDOM_OPS)


def op_parameters(kind: str, params: list) -> list[list]:
    """The ops' parameter lists for one specs.Fill params tuple per tensor:
    one number per tensor, or for mixtures the component counts, then the
    components' probabilities, kinds and four parameters each, in order."""
    if kind == "mixture":
        return [
            [len(p[0]) for p in params],
            [x for p in params for x in p[0]],
            [x for p in params for x in p[1]],
            [x for p in params for component in zip(*p[2:]) for x in component],
        ]
    return [list(column) for column in zip(*params)]


def fill_random(kind: str, tensors: list, seeds: list, params: list, op_params: list | None = None) -> None:
    """The one fill of many tensors, eager: tensor i gets seeds[i] and the
    specs.Fill params params[i] of distribution `kind` ("uniform", "normal",
    "trunc_normal", "mixture"), in one batched op call; a DTensor's local
    shard gets its slice of the global tensor's values (fastinit.sharding).
    `op_params`, op_parameters(kind, params) computed ahead (a cached
    schedule's plain tensors), skips that step."""
    if op_params is None:
        tensors, seeds, params, windows = localize(tensors, seeds, params)
        if not tensors:  # e.g. only empty shards
            return
        op_params = op_parameters(kind, params)
    else:
        windows = None
    _RANDOM_OPS[kind][1](tensors, seeds, *op_params, **(windows or {}))


def fill_tensor(kind: str, name: str, tensor: torch.Tensor, params: tuple, generator) -> torch.Tensor:
    """The one fill of a single tensor, by kind: under torch.compile an op
    that draws its seed when the compiled code runs; a plain tensor through
    the C++ fast path where there is one (outside keyed blocks: it draws its
    seed in C++); anything else (a DTensor, a mixture, a keyed block)
    through fill_random with its seed from seeds_for, meta tensors drawing
    none. A dtype outside FILLED_DTYPES raises NotImplementedError naming
    `name`, the public function. The plain floating tensor is tested first:
    on a small tensor every attribute read or call is a visible part of the
    call."""
    if torch.compiler.is_compiling():
        require_floating(name, tensor)
        with torch.no_grad():
            _RANDOM_OPS[kind][0]([tensor], *op_parameters(kind, [params]), resolve_generator(generator))
    elif type(tensor) in PLAIN_TENSOR_TYPES and kind in _FAST_PATHS and _name_keys.get() is None:
        _FAST_PATHS[kind](name, tensor, generator, *params)
    else:
        require_floating(name, tensor)
        if not tensor.is_meta:
            fill_random(kind, [tensor], seeds_for([tensor], generator), [params])
    return tensor
