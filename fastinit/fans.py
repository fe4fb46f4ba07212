"""Fans, gains and the standard deviations derived from them: the one
place the arithmetic of torch.nn.init's fan-based initializers lives, used
by fastinit.init, the specs and the models' built-in rules (same operations
in the same order everywhere, so a planned fill equals the function's bit
for bit).

The helpers work on a shape read once and test the common case first: at
64 x 64, each attribute read or call costs a noticeable share of a call.
"""

import math
from typing import Literal

import torch

_NonlinearityType = Literal[
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "selu",
]

_FanMode = Literal["fan_in", "fan_out"]

_LINEAR_NONLINEARITIES = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)


def calculate_gain(
    nonlinearity: _NonlinearityType, param: int | float | None = None
) -> float:
    """Return the recommended gain for a nonlinearity (as torch.nn.init)."""
    if nonlinearity == "leaky_relu":  # the default of kaiming_*, tested first
        if param is None:
            negative_slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity in _LINEAR_NONLINEARITIES:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def fans(shape: torch.Size) -> tuple[int, int]:
    if len(shape) < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive_field_size = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive_field_size, shape[0] * receptive_field_size


def fan(shape: torch.Size, mode: _FanMode) -> int:
    if mode != "fan_in":
        mode = mode.lower()
        if mode != "fan_in" and mode != "fan_out":
            raise ValueError(f"Mode {mode} not supported, please use one of {['fan_in', 'fan_out']}")
    fan_in, fan_out = fans(shape)
    return fan_in if mode == "fan_in" else fan_out


def xavier_std(shape: torch.Size, gain: float) -> float:
    """gain * sqrt(2 / (fan_in + fan_out)), as xavier_*_."""
    fan_in, fan_out = fans(shape)
    return gain * math.sqrt(2.0 / float(fan_in + fan_out))


# The std of kaiming_* by (shape, a, its type, mode, nonlinearity): a model
# has few distinct ones, and computing it costs a 64 x 64 initializer ~10%
# of its time. Bad arguments raise every time (nothing is stored for them);
# unhashable ones are computed without the cache.
_KAIMING_STDS: dict = {}


def kaiming_std(shape: torch.Size, a: float, mode: _FanMode, nonlinearity) -> float:
    key = (shape, a, type(a), mode, nonlinearity)
    try:
        return _KAIMING_STDS[key]
    except KeyError:
        cacheable = len(_KAIMING_STDS) < 4096
    except TypeError:  # an unhashable argument
        cacheable = False
    fan_of_mode = fan(shape, mode)  # first, as torch: its errors win
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan_of_mode)
    if cacheable:
        _KAIMING_STDS[key] = std
    return std
