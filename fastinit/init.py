"""Drop-in replacements for every function of `torch.nn.init`.

Same names, signatures, defaults, return values, errors and warnings; the
random values come from fastinit's kernels (same distributions as torch, not
the same random stream). Use as ``import fastinit.init as init``.
"""

import math
import warnings
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor
from typing_extensions import ParamSpec

from ._ops import ops
from .fills import fill_tensor, require_floating, seeds_for
from .generators import resolve_generator
from .fans import _FanMode, _NonlinearityType, calculate_gain, fans, kaiming_std, xavier_std
from .orthogonal import check_matrix, orthogonal_matrices
from .sharding import fill_through_full, is_dtensor

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "sparse_",
    # Deprecated aliases, as in torch.nn.init
    "uniform",
    "normal",
    "constant",
    "eye",
    "dirac",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "orthogonal",
    "sparse",
]

_R = TypeVar("_R")
_P = ParamSpec("_P")

def _uniform(name: str, tensor: Tensor, a: float, b: float, generator) -> Tensor:
    return fill_tensor("uniform", name, tensor, (float(a), float(b)), generator)


def _normal(name: str, tensor: Tensor, mean: float, std: float, generator) -> Tensor:
    return fill_tensor("normal", name, tensor, (float(mean), float(std)), generator)


def uniform_(
    tensor: Tensor,
    a: float = 0.0,
    b: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill `tensor` with values drawn from U(a, b)."""
    if torch.overrides.has_torch_function_variadic(tensor):
        return torch.overrides.handle_torch_function(
            uniform_, (tensor,), tensor=tensor, a=a, b=b, generator=generator
        )
    return _uniform("uniform_", tensor, a, b, generator)


def normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill `tensor` with values drawn from N(mean, std^2)."""
    if torch.overrides.has_torch_function_variadic(tensor):
        return torch.overrides.handle_torch_function(
            normal_, (tensor,), tensor=tensor, mean=mean, std=std, generator=generator
        )
    return _normal("normal_", tensor, mean, std, generator)


def trunc_normal_(
    tensor: Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill `tensor` with values drawn from N(mean, std^2) truncated to [a, b].

    Exact in one pass (see Note [exact truncated normal] in
    csrc/include/fastinit/distributions.h): every value lies in [a, b], none
    is clamped onto a bound, also far in the tails and for small std.
    """
    if tensor.is_meta:
        return tensor
    if std == 0:
        # torch.nn.init raises this from its (b - mean) / std
        raise ZeroDivisionError(
            f"trunc_normal_ expects std != 0, but found std={std} (float division by zero)"
        )
    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )
    return fill_tensor("trunc_normal", "trunc_normal_", tensor, (float(mean), float(std), float(a), float(b)), generator)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill `tensor` with `val`."""
    if torch.overrides.has_torch_function_variadic(tensor):
        return torch.overrides.handle_torch_function(
            constant_, (tensor,), tensor=tensor, val=val
        )
    with torch.no_grad():
        return tensor.fill_(val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill `tensor` with ones."""
    with torch.no_grad():
        return tensor.fill_(1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill `tensor` with zeros."""
    with torch.no_grad():
        return tensor.zero_()


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D `tensor` with the identity matrix."""
    if tensor.ndimension() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    if is_dtensor(tensor):
        fill_through_full([tensor], lambda full: eye_(full[0]))
        return tensor
    with torch.no_grad():
        tensor.zero_()
        tensor.diagonal().fill_(1)
    return tensor


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a {3, 4, 5}-D `tensor` with the Dirac delta (identity conv)."""
    dimensions = tensor.ndimension()
    if dimensions not in [3, 4, 5]:
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.size()
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    if tensor.is_meta:
        return tensor
    if is_dtensor(tensor):
        fill_through_full([tensor], lambda full: dirac_(full[0], groups))
        return tensor

    out_chans_per_grp = sizes[0] // groups
    min_dim = min(out_chans_per_grp, sizes[1])
    with torch.no_grad():
        tensor.zero_()
        if min_dim > 0:
            diagonal = torch.arange(min_dim, device=tensor.device)
            group_start = torch.arange(groups, device=tensor.device) * out_chans_per_grp
            out_index = (group_start[:, None] + diagonal[None, :]).reshape(-1)
            in_index = diagonal.repeat(groups)
            centers = tuple(size // 2 for size in sizes[2:])
            tensor[(out_index, in_index) + centers] = 1
    return tensor


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    return fans(tensor.shape)


def xavier_uniform_(
    tensor: Tensor,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill `tensor` from U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    bound = math.sqrt(3.0) * xavier_std(tensor.shape, gain)
    return _uniform("xavier_uniform_", tensor, -bound, bound, generator)


def xavier_normal_(
    tensor: Tensor,
    gain: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill `tensor` from N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    return _normal("xavier_normal_", tensor, 0.0, xavier_std(tensor.shape, gain), generator)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: _FanMode = "fan_in",
    nonlinearity: _NonlinearityType = "leaky_relu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill `tensor` from U(-bound, bound), bound = gain * sqrt(3 / fan_mode)."""
    if torch.overrides.has_torch_function_variadic(tensor):
        return torch.overrides.handle_torch_function(
            kaiming_uniform_,
            (tensor,),
            tensor=tensor,
            a=a,
            mode=mode,
            nonlinearity=nonlinearity,
            generator=generator,
        )
    shape = tensor.shape
    if 0 in shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    bound = math.sqrt(3.0) * kaiming_std(shape, a, mode, nonlinearity)
    return _uniform("kaiming_uniform_", tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: _FanMode = "fan_in",
    nonlinearity: _NonlinearityType = "leaky_relu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill `tensor` from N(0, std^2), std = gain / sqrt(fan_mode)."""
    shape = tensor.shape
    if 0 in shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    std = kaiming_std(shape, a, mode, nonlinearity)
    return _normal("kaiming_normal_", tensor, 0.0, std, generator)


def orthogonal_(
    tensor: Tensor,
    gain: float = 1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill `tensor` with a (semi) orthogonal matrix (trailing dims flattened).

    Haar-distributed, as torch's QR of a gaussian matrix with its sign
    correction (built here from gaussian Householder reflectors, Note
    [orthogonal from reflectors]); float16/bfloat16
    destinations are computed in float32 and rounded once. The same path as
    fastinit.batched_orthogonal_ with one matrix.
    """
    if tensor.ndimension() >= 2 and (tensor.numel() == 0 or tensor.is_meta):
        return tensor  # as torch's: no dtype check for these
    check_matrix("orthogonal_", tensor)
    if is_dtensor(tensor):  # the seed first: a keyed block keys the DTensor, not its global twin
        seeds = None if torch.compiler.is_compiling() else seeds_for([tensor], generator)
        fill_through_full([tensor], lambda full: orthogonal_matrices(full, gain, generator, seeds))
    else:
        orthogonal_matrices([tensor], gain, generator)
    return tensor


def sparse_(
    tensor: Tensor,
    sparsity: float,
    std: float = 0.01,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Fill a 2-D `tensor` from N(0, std^2), then zero exactly
    ceil(sparsity * rows) elements of every column (0 <= sparsity <= 1)."""
    if tensor.ndimension() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    if tensor.is_meta:
        return tensor
    require_floating("sparse_", tensor)
    with torch.no_grad():
        if torch.compiler.is_compiling():  # the seed drawn when the compiled code runs
            ops.sparse_from_generator_(tensor, float(sparsity), float(std), resolve_generator(generator))
            return tensor
        seed = seeds_for([tensor], generator)[0]  # a DTensor's seed first, as orthogonal_'s
        if is_dtensor(tensor):
            fill_through_full([tensor], lambda full: ops.sparse_(full[0], seed, float(sparsity), float(std)))
        else:
            ops.sparse_(tensor, seed, float(sparsity), float(std))
    return tensor


def _make_deprecate(meth: Callable[_P, _R]) -> Callable[_P, _R]:
    new_name = meth.__name__
    old_name = new_name[:-1]

    def deprecated_init(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        warnings.warn(
            f"`nn.init.{old_name}` is now deprecated in favor of `nn.init.{new_name}`.",
            FutureWarning,
            stacklevel=2,
        )
        return meth(*args, **kwargs)

    deprecated_init.__doc__ = f"Deprecated alias of :func:`{new_name}`."
    deprecated_init.__name__ = old_name
    return deprecated_init


uniform = _make_deprecate(uniform_)
normal = _make_deprecate(normal_)
constant = _make_deprecate(constant_)
eye = _make_deprecate(eye_)
dirac = _make_deprecate(dirac_)
xavier_uniform = _make_deprecate(xavier_uniform_)
xavier_normal = _make_deprecate(xavier_normal_)
kaiming_uniform = _make_deprecate(kaiming_uniform_)
kaiming_normal = _make_deprecate(kaiming_normal_)
orthogonal = _make_deprecate(orthogonal_)
sparse = _make_deprecate(sparse_)
