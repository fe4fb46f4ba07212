"""The bridge to the C++ ops: loads the extension and draws seeds.

Every random fill goes through `fill`, which draws one seed per tensor from a
torch generator and calls one op on the whole list
(Note [fastinit RNG contract] in csrc/include/fastinit/philox.h).
"""

import torch

from . import _C  # noqa: F401  (registers torch.ops.fastinit)

ops = torch.ops.fastinit


def draw_seeds(generator: torch.Generator | None, count: int) -> list[int]:
    """`count` 63-bit seeds from `generator` (default: torch's default CPU
    generator), in order. Drawing n seeds at once equals n single draws."""
    return torch.empty(count, dtype=torch.int64).random_(generator=generator).tolist()


def require_floating(name: str, tensor: torch.Tensor) -> None:
    """Rejects integer, bool and complex destinations, naming `name`."""
    if not tensor.is_floating_point():
        raise NotImplementedError(
            f"fastinit::{name}: unsupported dtype {tensor.dtype}; "
            "expected float32, float64, float16 or bfloat16"
        )


def fill(op, name: str, tensors: list[torch.Tensor], generator: torch.Generator | None, *params):
    """Calls a random-fill op on `tensors` with per-tensor `params` (lists);
    `name` is the public function, for error messages.

    Meta tensors have no storage: their fill only checks its arguments and
    draws no seed, as torch's initializers leave the generator alone for them.
    """
    for tensor in tensors:
        require_floating(name, tensor)
    if all(t.is_meta for t in tensors):
        seeds = [0] * len(tensors)
    else:
        seeds = draw_seeds(generator, len(tensors))
    with torch.no_grad():
        op(tensors, seeds, *params)
