"""Random fills that model code makes outside torch.nn.init, answered by
fastinit's kernels while patched().

Model code fills tensors in more ways than through torch.nn.init:
`module.weight.data.normal_(0, 0.02)`, `nn.Parameter(torch.randn(1, 1, d))`,
`torch.rand(...)` in a module's __init__. patched() pushes a
TorchFunctionMode, `RandomFills`, on the mode stack of the thread that
entered it (torch keeps one stack per thread), so on that thread, and only
there, these calls run on fastinit:

- the tensor methods `normal_` and `uniform_`;
- the float factories `torch.randn`, `torch.rand`, `torch.randn_like`,
  `torch.rand_like` and `torch.normal` (every form);
- torch.nn.init's own functions wherever they are still held (a closure, a
  large table patch() does not scan): they run as fastinit's.

Values follow torch's distributions from fastinit's stream (Note [fastinit
RNG contract]); `generator=` and torch.manual_seed control them as they do
fastinit's initializers. Everything else passes through untouched: integer
and Bernoulli draws (randint, randperm, bernoulli_, dropout), all other ops,
and any call fastinit does not take as it stands (a dtype fastinit does not
fill, a sparse layout, a non-CPU generator, an argument it does not know,
an in-place fill autograd would record). torch then runs such a call, or
rejects it with its own error; a call fastinit takes but refuses (a negative
std, bounds out of range) is also handed to torch, so every error is
torch's own, raised before anything is written.
"""

import math

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode

from . import init as fast_init
from ._ops import FILLED_DTYPES

_REFUSALS = (RuntimeError, ValueError, TypeError, NotImplementedError, OverflowError)
_DECLINED = NotImplemented  # what a handler returns for "let torch run it"


def _bind(args: tuple, kwargs: dict, names: tuple, defaults: dict) -> dict | None:
    """The arguments by name (positional ones in `names` order, then keyword
    ones; `defaults` holds every optional one), or None when the call does
    not fit that signature (torch then parses and rejects it)."""
    if len(args) > len(names):
        return None
    bound = dict(zip(names, args))
    for key, value in kwargs.items():
        if key in bound or (key not in defaults and key not in names):
            return None
        bound[key] = value
    for key in names:
        if key not in bound and key not in defaults:
            return None
    return {**defaults, **bound}


def _is_number(value) -> bool:
    return type(value) in (int, float)


def _generator_taken(generator) -> bool:
    return generator is None or (isinstance(generator, torch.Generator) and generator.device.type == "cpu")


def _writable(tensor) -> bool:
    """A floating tensor that an in-place fill may write below autograd."""
    return (isinstance(tensor, Tensor) and tensor.dtype in FILLED_DTYPES and tensor.layout == torch.strided
            and not (tensor.requires_grad and torch.is_grad_enabled()))


def _refused_or(fill):
    """fill(), or _DECLINED if fastinit refuses its arguments (torch then
    raises its own error: fastinit checks before writing)."""
    try:
        return fill()
    except _REFUSALS:
        return _DECLINED


# ------------------------------------------------------ the tensor methods
def _in_place_method(first: str, second: str, fill):
    """A handler for Tensor.normal_(mean=0, std=1, *, generator=None) or
    Tensor.uniform_(from=0, to=1, *, generator=None): fill(tensor, first,
    second, generator)."""

    def handler(args, kwargs):
        b = _bind(args, kwargs, ("self", first, second), {first: 0.0, second: 1.0, "generator": None})
        if (b is None or not _writable(b["self"]) or not _is_number(b[first]) or not _is_number(b[second])
                or not _generator_taken(b["generator"])):
            return _DECLINED
        return _refused_or(lambda: fill(b["self"], b[first], b[second], b["generator"]))

    return handler


# ------------------------------------------------------------ the factories
_FACTORY_OPTIONS = frozenset({"size", "out", "dtype", "layout", "device", "requires_grad", "pin_memory", "names"})
_LIKE_OPTIONS = frozenset({"dtype", "layout", "device", "requires_grad", "memory_format"})


def _new_filled(allocate, options: dict, allowed: frozenset, fill, default_dtype):
    """allocate(options) (torch.empty or empty_like with the call's own size
    and options, so torch parses and checks them; `options` less generator
    and requires_grad, which fastinit applies), then fill it in place."""
    generator = options.pop("generator", None)
    requires_grad = options.pop("requires_grad", False)
    out = options.get("out")
    if not options.keys() <= allowed or type(requires_grad) is not bool or (requires_grad and out is not None):
        return _DECLINED
    dtype = options.get("dtype") or (out.dtype if isinstance(out, Tensor) else default_dtype)
    if dtype not in FILLED_DTYPES or not _generator_taken(generator):
        return _DECLINED
    try:
        tensor = allocate(options)
    except _REFUSALS:
        return _DECLINED
    if tensor.layout != torch.strided:
        return _DECLINED
    if _refused_or(lambda: fill(tensor, generator)) is _DECLINED:
        return _DECLINED
    return tensor.requires_grad_() if requires_grad else tensor


def _factory(fill):
    """A handler for torch.randn / torch.rand(*size, generator=None, out=None,
    dtype=None, layout=strided, device=None, requires_grad=False,
    pin_memory=False, names=None)."""

    def handler(args, kwargs):
        return _new_filled(lambda options: torch.empty(*args, **options), dict(kwargs), _FACTORY_OPTIONS, fill,
                           torch.get_default_dtype())

    return handler


def _like_factory(fill):
    """A handler for torch.randn_like / torch.rand_like(input, *,
    generator=None, dtype=None, layout=None, device=None,
    requires_grad=False, memory_format=preserve_format)."""

    def handler(args, kwargs):
        options = dict(kwargs)
        source = args[0] if len(args) == 1 else options.pop("input", None) if not args else None
        if not isinstance(source, Tensor):
            return _DECLINED
        return _new_filled(lambda o: torch.empty_like(source, **o), options, _LIKE_OPTIONS, fill, source.dtype)

    return handler


def _standard_normal(tensor, generator):
    fast_init.normal_(tensor, 0.0, 1.0, generator)


def _standard_uniform(tensor, generator):
    fast_init.uniform_(tensor, 0.0, 1.0, generator)


def _torch_normal(args, kwargs):
    """torch.normal in its four forms: (float mean, float std, size, ...
    factory options), and (Tensor mean, Tensor std), (Tensor mean, float
    std = 1), (float mean, Tensor std), each with generator= and out=. The
    tensor forms compute as torch does: a standard normal of the broadcast
    shape in the dtype of the tensor argument (mean's first), times std,
    plus mean."""
    options = dict(kwargs)
    names = ("mean", "std", "size")
    if len(args) > 3 or any(key in options for key in names[:len(args)]):
        return _DECLINED
    given = dict(zip(names, args))
    given.update((key, options.pop(key)) for key in names if key in options)
    mean, std = given.get("mean"), given.get("std", 1.0)
    if _is_number(mean) and _is_number(std):
        if "size" not in given:
            return _DECLINED
        return _new_filled(lambda o: torch.empty(given["size"], **o), options, _FACTORY_OPTIONS,
                           lambda t, g: fast_init.normal_(t, mean, std, g), torch.get_default_dtype())
    return _normal_of_tensors(mean, std, "size" in given, options, options.pop("generator", None))


def _normal_of_tensors(mean, std, sized: bool, options: dict, generator):
    tensors = [x for x in (mean, std) if isinstance(x, Tensor)]
    out = options.pop("out", None)
    if (sized or options or not tensors or not all(isinstance(x, Tensor) or _is_number(x) for x in (mean, std))
            or any(t.dtype not in FILLED_DTYPES or (t.requires_grad and torch.is_grad_enabled()) for t in tensors)
            or len({t.device for t in tensors}) > 1 or not _generator_taken(generator)
            or (out is not None and not _writable(out))):
        return _DECLINED
    if isinstance(std, Tensor):
        if not bool((std >= 0).all()):
            return _DECLINED  # torch: "normal expects all elements of std >= 0.0"
    elif not std >= 0 or math.isnan(std):
        return _DECLINED
    like = tensors[0]
    shape = torch.broadcast_shapes(*(t.shape for t in tensors))
    try:
        if out is None:
            result = torch.empty(shape, dtype=like.dtype, device=like.device)
        else:
            result = torch.empty(shape, dtype=out.dtype, device=out.device, out=out)
    except _REFUSALS:
        return _DECLINED
    with torch.no_grad():
        if isinstance(std, Tensor):
            fast_init.normal_(result, 0.0, 1.0, generator)
            result.mul_(std).add_(mean)
        else:
            fast_init.normal_(result, 0.0, float(std), generator)
            result.add_(mean)
    return result


def _stock_init_handlers() -> dict:
    """torch.nn.init's functions, wherever still held, run as fastinit's."""
    handlers = {}
    for name in torch.nn.init.__all__:
        ours = getattr(fast_init, name)
        handlers[getattr(torch.nn.init, name)] = lambda args, kwargs, ours=ours: ours(*args, **kwargs)
    return handlers


_HANDLERS = {
    Tensor.normal_: _in_place_method("mean", "std", fast_init.normal_),
    Tensor.uniform_: _in_place_method("from", "to", fast_init.uniform_),
    torch.randn: _factory(_standard_normal),
    torch.rand: _factory(_standard_uniform),
    torch.randn_like: _like_factory(_standard_normal),
    torch.rand_like: _like_factory(_standard_uniform),
    torch.normal: _torch_normal,
    **_stock_init_handlers(),
}


class RandomFills(TorchFunctionMode):
    """Answers the random fills listed in this module's docstring with
    fastinit's kernels; every other call passes through unchanged."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        handler = _HANDLERS.get(func)
        if handler is not None:
            result = handler(args, kwargs)
            if result is not _DECLINED:
                return result
        return func(*args, **kwargs)
