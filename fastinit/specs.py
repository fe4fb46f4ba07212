"""Initializer specs: declarative descriptions of how to fill a tensor.

A spec is used two ways: called on a tensor (``Normal(0, 0.02)(w)``) it fills
it at once; handed to ``fastinit.reset_parameters`` or ``materialize`` (as a
rule, or by the built-in rules of torch.nn modules) it is *planned*: resolved
against its tensor into a `Fill`, and all fills of a kind are then executed
in one batched op call.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

import torch

from . import init as _init
from ._ops import MIXTURE_KINDS, MIXTURE_PARAMETERS_PER_COMPONENT
from .fills import fill_tensor
from .fans import fan, fans, kaiming_std, xavier_std

__all__ = [
    "Init",
    "Fill",
    "Uniform",
    "Normal",
    "TruncNormal",
    "Constant",
    "XavierUniform",
    "XavierNormal",
    "KaimingUniform",
    "KaimingNormal",
    "Orthogonal",
    "Call",
    "Mixture",
    "FanScaled",
    "masked",
    "mixture_",
]


class Kind(str, Enum):
    """What a `Fill` does. UNIFORM, NORMAL, TRUNC_NORMAL and MIXTURE are the
    distributions with batched ops (fastinit._ops.RANDOM_KINDS, read from the
    op registry), ORTHOGONAL
    (params (gain,)) is batched per shape, CONSTANT (params (value,)) is
    batched too; CALL (params (fn,)) runs fn(tensor, generator) in order;
    RESET_MODULE is a plan's own: a custom module's reset_parameters, run in
    order (fastinit.planning)."""

    UNIFORM = "uniform"
    NORMAL = "normal"
    TRUNC_NORMAL = "trunc_normal"
    MIXTURE = "mixture"
    ORTHOGONAL = "orthogonal"
    CONSTANT = "constant"
    CALL = "call"
    RESET_MODULE = "reset_module"

    def __str__(self) -> str:
        return self.value


# The single-tensor functions of the kinds that take numbers and a generator.
_APPLY = {Kind.UNIFORM: _init.uniform_, Kind.NORMAL: _init.normal_, Kind.TRUNC_NORMAL: _init.trunc_normal_,
          Kind.ORTHOGONAL: _init.orthogonal_}


class Fill(NamedTuple):
    """A resolved fill: its `kind` (a Kind, or the kind's name) and the
    numbers or function `params` that kind takes. A plan refuses a kind it
    does not know when it is made, a spec when it is called."""

    kind: Kind
    params: tuple


KINDS = frozenset(Kind)  # holds the kinds' names too: a str enum compares as its value


def unknown_kind(fill: Fill) -> ValueError:
    return ValueError(f"fastinit: a Fill of unknown kind {fill.kind!r}; expected one of "
                      f"{', '.join(k.value for k in Kind)}")


class Init:
    """Base class of specs: subclasses implement `resolve(tensor) -> Fill`."""

    def resolve(self, tensor: torch.Tensor) -> Fill:
        raise NotImplementedError

    def __call__(self, tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        fill = self.resolve(tensor)
        if fill.kind == Kind.CALL:
            fill.params[0](tensor, generator)
            return tensor
        if fill.kind == Kind.CONSTANT:
            return _init.constant_(tensor, *fill.params)
        if fill.kind == Kind.MIXTURE:
            return _fill_mixture(tensor, fill, generator)
        apply = _APPLY.get(fill.kind)
        if apply is not None:
            return apply(tensor, *fill.params, generator=generator)
        if fill.kind == Kind.RESET_MODULE:
            raise ValueError(f"fastinit: a spec resolved to a Fill of kind {fill.kind}, which only a plan runs")
        raise unknown_kind(fill)


@dataclass(frozen=True)
class Uniform(Init):
    """U(a, b)."""

    a: float = 0.0
    b: float = 1.0

    def resolve(self, tensor):
        return Fill(Kind.UNIFORM, (float(self.a), float(self.b)))


@dataclass(frozen=True)
class Normal(Init):
    """N(mean, std^2)."""

    mean: float = 0.0
    std: float = 1.0

    def resolve(self, tensor):
        return Fill(Kind.NORMAL, (float(self.mean), float(self.std)))


@dataclass(frozen=True)
class TruncNormal(Init):
    """N(mean, std^2) truncated to [a, b], exactly."""

    mean: float = 0.0
    std: float = 1.0
    a: float = -2.0
    b: float = 2.0

    def resolve(self, tensor):
        return Fill(Kind.TRUNC_NORMAL, (float(self.mean), float(self.std), float(self.a), float(self.b)))


@dataclass(frozen=True)
class Constant(Init):
    """Every element `value`."""

    value: float

    def resolve(self, tensor):
        return Fill(Kind.CONSTANT, (float(self.value),))


@dataclass(frozen=True)
class XavierUniform(Init):
    """U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) (xavier_uniform_)."""

    gain: float = 1.0

    def resolve(self, tensor):
        bound = math.sqrt(3.0) * xavier_std(tensor.shape, self.gain)
        return Fill(Kind.UNIFORM, (-bound, bound))


@dataclass(frozen=True)
class XavierNormal(Init):
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)) (xavier_normal_)."""

    gain: float = 1.0

    def resolve(self, tensor):
        return Fill(Kind.NORMAL, (0.0, xavier_std(tensor.shape, self.gain)))


@dataclass(frozen=True)
class KaimingUniform(Init):
    """U(-b, b), b = gain * sqrt(3 / fan_mode) (kaiming_uniform_)."""

    a: float = 0.0
    mode: str = "fan_in"
    nonlinearity: str = "leaky_relu"

    def resolve(self, tensor):
        bound = math.sqrt(3.0) * kaiming_std(tensor.shape, self.a, self.mode, self.nonlinearity)
        return Fill(Kind.UNIFORM, (-bound, bound))


@dataclass(frozen=True)
class KaimingNormal(Init):
    """N(0, std^2), std = gain / sqrt(fan_mode) (kaiming_normal_)."""

    a: float = 0.0
    mode: str = "fan_in"
    nonlinearity: str = "leaky_relu"

    def resolve(self, tensor):
        return Fill(Kind.NORMAL, (0.0, kaiming_std(tensor.shape, self.a, self.mode, self.nonlinearity)))


@dataclass(frozen=True)
class Orthogonal(Init):
    """A (semi) orthogonal matrix times `gain` (orthogonal_)."""

    gain: float = 1.0

    def resolve(self, tensor):
        return Fill(Kind.ORTHOGONAL, (float(self.gain),))


@dataclass(frozen=True)
class Call(Init):
    """Any function fn(tensor, generator), run in module order."""

    fn: Callable

    def resolve(self, tensor):
        return Fill(Kind.CALL, (self.fn,))


# ------------------------------------------------------------------ mixtures


class Mixture(Init):
    """Each element picks component k with probability p_k and draws from
    it, in one fused pass (Note [fused mixtures] in distributions.h).

    `components` is a list of (probability, spec); the specs may be Uniform,
    Normal, TruncNormal, Constant, Xavier/Kaiming specs, FanScaled versions
    of those, or Mixtures (flattened).
    Probabilities must be >= 0 and sum to 1 within 1e-6 (no silent
    renormalization); at most 8 components (checked by the op). Values are computed in float32
    for every dtype.
    """

    def __init__(self, components):
        components = list(components.components if isinstance(components, Mixture) else components)
        if not components:
            raise ValueError("fastinit.Mixture needs at least one (probability, spec) component")
        for item in components:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Init)):
                raise TypeError(f"fastinit.Mixture components are (probability, spec) pairs, got {item!r}")
        self.components = tuple((float(p), spec) for p, spec in components)

    def __repr__(self):
        return f"Mixture({list(self.components)!r})"

    def __eq__(self, other):
        return isinstance(other, Mixture) and self.components == other.components

    def __hash__(self):
        return hash(self.components)

    def resolve(self, tensor):
        # One row per component: probability, kind, then its numbers.
        rows = []
        for probability, spec in self.components:
            fill = spec.resolve(tensor)
            if fill.kind == Kind.MIXTURE:  # flatten a nested mixture
                rows += [(probability * p, *rest) for p, *rest in zip(*fill.params)]
                continue
            if fill.kind not in MIXTURE_KINDS:
                raise NotImplementedError(
                    f"fastinit.Mixture: {type(spec).__name__} components are not supported "
                    "(use Uniform, Normal, TruncNormal, Constant or specs resolving to them)")
            numbers = (tuple(fill.params) + (0.0,) * MIXTURE_PARAMETERS_PER_COMPONENT)[:MIXTURE_PARAMETERS_PER_COMPONENT]
            rows.append((probability, MIXTURE_KINDS[fill.kind], *numbers))
        return Fill(Kind.MIXTURE, tuple(map(tuple, zip(*rows))))


def _fill_mixture(tensor, fill, generator):
    return fill_tensor("mixture", "mixture_", tensor, fill.params, generator)


def mixture_(tensor: torch.Tensor, components, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill `tensor` from a mixture (a `Mixture` or its list of (probability,
    spec) components) in one pass. Bad input raises before any write."""
    mixture = components if isinstance(components, Mixture) else Mixture(components)
    return _fill_mixture(tensor, mixture.resolve(tensor), generator)


def masked(base: Init, keep: float) -> Mixture:
    """Keep a fraction `keep` of `base`'s values and zero the rest
    (dropout-style sparse initialization)."""
    return Mixture([(keep, base), (1.0 - keep, Constant(0.0))])


@dataclass(frozen=True)
class FanScaled(Init):
    """`spec` in units of a tensor's fan-based scale: its bounds, mean, std
    or value multiplied by the std Kaiming (gain / sqrt(fan)) or Xavier
    (gain * sqrt(2 / (fan_in + fan_out))) initialization would use.
    E.g. FanScaled(Uniform(-1, 1), "kaiming") is U(-s, s), s the Kaiming std.
    """

    spec: Init
    by: str = "kaiming"
    mode: str = "fan_in"
    gain: float = 1.0

    def resolve(self, tensor):
        fans(tensor.shape)  # its error first, for either kind
        if self.by == "kaiming":
            unit = self.gain / math.sqrt(fan(tensor.shape, self.mode))
        elif self.by == "xavier":
            unit = xavier_std(tensor.shape, self.gain)
        else:
            raise ValueError(f"fastinit.FanScaled: by must be 'kaiming' or 'xavier', got {self.by!r}")
        fill = self.spec.resolve(tensor)
        if fill.kind == Kind.MIXTURE:
            probabilities, kinds, *numbers = fill.params
            return Fill(Kind.MIXTURE, (probabilities, kinds, *(tuple(x * unit for x in n) for n in numbers)))
        if fill.kind == Kind.CALL:
            raise NotImplementedError(f"fastinit.FanScaled cannot scale {type(self.spec).__name__}")
        return Fill(fill.kind, tuple(p * unit for p in fill.params))
