"""The one way to fill from Python: where seeds come from (drawn from a
generator, or keyed by name in a keyed block), the dtype check, and the two
fills, `fill_tensor` (one tensor) and `fill_random` (lists), each handling
meta tensors, DTensors, torch.compile and dtypes in one place (Note
[fastinit RNG contract] in csrc/include/fastinit/philox.h)."""

import contextlib
import contextvars

import torch

from ._ops import BATCHED_FILLS, FAST_PATHS, FILLED_DTYPES, RANDOM_KINDS, draw_seeds, ops
from .generators import resolve_generator
from .sharding import PLAIN_TENSOR_TYPES, localize

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


def require_floating(name: str, tensor: torch.Tensor) -> None:
    """Rejects destinations of a dtype outside FILLED_DTYPES, naming `name`:
    the message of csrc/checks.cpp's check_floating (which the ops and the
    fast paths use), in Python so that torch.compile traces it."""
    if tensor.dtype not in FILLED_DTYPES:
        raise NotImplementedError(
            f"fastinit::{name}: unsupported dtype {tensor.dtype}; "
            "expected float32, float64, float16 or bfloat16"
        )


# The ops that draw their own seeds when they run, for traced code (a seed
# drawn at trace time would be replayed by every call of the compiled code).
_DRAWING_OPS = {kind: getattr(ops, f"{kind}_from_generator_") for kind in RANDOM_KINDS}


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
    windows = {}
    if op_params is None:
        tensors, seeds, params, windows = localize(tensors, seeds, params)
        if not tensors:  # e.g. only empty shards
            return
        op_params = op_parameters(kind, params)
    BATCHED_FILLS[kind](tensors, seeds, *op_params, windows.get("global_shapes"), windows.get("offsets"))


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
            _DRAWING_OPS[kind]([tensor], *op_parameters(kind, [params]), resolve_generator(generator))
    elif type(tensor) in PLAIN_TENSOR_TYPES and kind in FAST_PATHS and _name_keys.get() is None:
        FAST_PATHS[kind](name, tensor, generator, *params)
    else:
        require_floating(name, tensor)
        if not tensor.is_meta:
            fill_random(kind, [tensor], seeds_for([tensor], generator), [params])
    return tensor
