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
from typing import NamedTuple

import torch

from . import init as _init

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
]


class Fill(NamedTuple):
    """A resolved fill: `kind` is "uniform", "normal", "trunc_normal" (random,
    batched), "constant" (batched) or "call" (params = (fn,), run in order as
    fn(tensor, generator))."""

    kind: str
    params: tuple


class Init:
    """Base class of specs: subclasses implement `resolve(tensor) -> Fill`."""

    def resolve(self, tensor: torch.Tensor) -> Fill:
        raise NotImplementedError

    def __call__(self, tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        fill = self.resolve(tensor)
        if fill.kind == "uniform":
            return _init.uniform_(tensor, *fill.params, generator=generator)
        if fill.kind == "normal":
            return _init.normal_(tensor, *fill.params, generator=generator)
        if fill.kind == "trunc_normal":
            return _init.trunc_normal_(tensor, *fill.params, generator=generator)
        if fill.kind == "constant":
            return _init.constant_(tensor, *fill.params)
        fill.params[0](tensor, generator)
        return tensor


@dataclass(frozen=True)
class Uniform(Init):
    """U(a, b)."""

    a: float = 0.0
    b: float = 1.0

    def resolve(self, tensor):
        return Fill("uniform", (float(self.a), float(self.b)))


@dataclass(frozen=True)
class Normal(Init):
    """N(mean, std^2)."""

    mean: float = 0.0
    std: float = 1.0

    def resolve(self, tensor):
        return Fill("normal", (float(self.mean), float(self.std)))


@dataclass(frozen=True)
class TruncNormal(Init):
    """N(mean, std^2) truncated to [a, b], exactly."""

    mean: float = 0.0
    std: float = 1.0
    a: float = -2.0
    b: float = 2.0

    def resolve(self, tensor):
        return Fill("trunc_normal", (float(self.mean), float(self.std), float(self.a), float(self.b)))


@dataclass(frozen=True)
class Constant(Init):
    """Every element `value`."""

    value: float

    def resolve(self, tensor):
        return Fill("constant", (float(self.value),))


@dataclass(frozen=True)
class XavierUniform(Init):
    """U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) (xavier_uniform_)."""

    gain: float = 1.0

    def resolve(self, tensor):
        fan_in, fan_out = _init._calculate_fan_in_and_fan_out(tensor)
        bound = math.sqrt(3.0) * self.gain * math.sqrt(2.0 / float(fan_in + fan_out))
        return Fill("uniform", (-bound, bound))


@dataclass(frozen=True)
class XavierNormal(Init):
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)) (xavier_normal_)."""

    gain: float = 1.0

    def resolve(self, tensor):
        fan_in, fan_out = _init._calculate_fan_in_and_fan_out(tensor)
        return Fill("normal", (0.0, self.gain * math.sqrt(2.0 / float(fan_in + fan_out))))


@dataclass(frozen=True)
class KaimingUniform(Init):
    """U(-b, b), b = gain * sqrt(3 / fan_mode) (kaiming_uniform_)."""

    a: float = 0.0
    mode: str = "fan_in"
    nonlinearity: str = "leaky_relu"

    def resolve(self, tensor):
        bound = math.sqrt(3.0) * _init._kaiming_std(tensor, self.a, self.mode, self.nonlinearity)
        return Fill("uniform", (-bound, bound))


@dataclass(frozen=True)
class KaimingNormal(Init):
    """N(0, std^2), std = gain / sqrt(fan_mode) (kaiming_normal_)."""

    a: float = 0.0
    mode: str = "fan_in"
    nonlinearity: str = "leaky_relu"

    def resolve(self, tensor):
        return Fill("normal", (0.0, _init._kaiming_std(tensor, self.a, self.mode, self.nonlinearity)))


@dataclass(frozen=True)
class Orthogonal(Init):
    """A (semi) orthogonal matrix times `gain` (orthogonal_)."""

    gain: float = 1.0

    def resolve(self, tensor):
        return Fill("call", (lambda t, g: _init.orthogonal_(t, self.gain, generator=g),))


@dataclass(frozen=True)
class Call(Init):
    """Any function fn(tensor, generator), run in module order."""

    fn: Callable

    def resolve(self, tensor):
        return Fill("call", (self.fn,))
