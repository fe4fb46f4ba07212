"""fastinit's equivalents of the initializers model libraries write
themselves, which patched() swaps in wherever the library's function is
held (as it does torch.nn.init's).

timm (`timm.layers.weight_init`, imported by name into its model files)
builds its truncated normals in Python from `uniform_`, `erfinv_` and a
clamp; here each is one fastinit kernel call with timm's semantics:

- `trunc_normal_(t, mean, std, a, b)`: N(mean, std²) truncated to [a, b]
  (the bounds are absolute, as in torch.nn.init.trunc_normal_);
- `trunc_normal_tf_(t, mean, std, a, b)`: a standard normal truncated to
  [a, b], then scaled by std and shifted by mean, i.e. N(mean, std²)
  truncated to [mean + std·a, mean + std·b] (TensorFlow's and JAX's
  convention);
- `variance_scaling_(t, scale, mode, distribution)`: variance scale / fan
  for mode "fan_in", "fan_out" or "fan_avg", drawn from a "truncated_normal"
  (`trunc_normal_tf_` on [-2, 2] with std sqrt(variance) / 0.8796..., the
  std of a standard normal truncated to [-2, 2]), a "normal" or a
  "uniform" of that variance;
- `lecun_normal_(t)`: `variance_scaling_(t, 1, "fan_in", "truncated_normal")`.

Arguments, return values, warnings and errors are timm's (`variance_scaling_`
and `lecun_normal_` return None; an unknown mode raises UnboundLocalError as
timm's does, here with a message naming it). transformers keeps a table of
torch's functions (`transformers.initialization`) that patched() already
rewrites, and its own `lecun_normal_` and `default_flax_embed_init_` call
through that table, so it needs no equivalents here.
"""

import math
import sys
import warnings

from . import init as fast_init
from .fills import fill_tensor
from .fans import fans

# The std of a standard normal truncated to [-2, 2] (timm's constant).
_STD_OF_TRUNCATED_TO_2 = 0.87962566103423978


def timm_trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """timm.layers.trunc_normal_: N(mean, std²) truncated to [a, b]."""
    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=2)
    if std == 0:
        raise ZeroDivisionError(f"trunc_normal_ expects std != 0, but found std={std} (float division by zero)")
    return fill_tensor("trunc_normal", "trunc_normal_", tensor, (float(mean), float(std), float(a), float(b)), None)


def timm_trunc_normal_tf_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """timm.layers.trunc_normal_tf_: mean + std · (a standard normal
    truncated to [a, b])."""
    if (0 < a - 2) or (0 > b + 2):  # timm's warning, for the standard normal
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=2)
    if std == 0:  # timm: every value becomes mean
        return fast_init.constant_(tensor, mean)
    low, high = mean + std * a, mean + std * b
    if std < 0:  # the normal is symmetric: -|std| Z on [a, b] is |std| Z on [-b, -a]
        low, high = high, low
    return fill_tensor("trunc_normal", "trunc_normal_tf_", tensor,
                           (float(mean), float(abs(std)), float(low), float(high)), None)


def timm_variance_scaling_(tensor, scale=1.0, mode="fan_in", distribution="normal"):
    """timm.layers.variance_scaling_ (returns None, as timm's)."""
    fan_in, fan_out = fans(tensor.shape)
    if mode == "fan_in":
        denom = fan_in
    elif mode == "fan_out":
        denom = fan_out
    elif mode == "fan_avg":
        denom = (fan_in + fan_out) / 2
    else:
        raise UnboundLocalError(f"variance_scaling_: unsupported mode {mode!r} "
                                "(expected 'fan_in', 'fan_out' or 'fan_avg')")
    variance = scale / denom
    if distribution == "truncated_normal":
        timm_trunc_normal_tf_(tensor, std=math.sqrt(variance) / _STD_OF_TRUNCATED_TO_2)
    elif distribution == "normal":
        fast_init.normal_(tensor, std=math.sqrt(variance))
    elif distribution == "uniform":
        bound = math.sqrt(3 * variance)
        fast_init.uniform_(tensor, -bound, bound)
    else:
        raise ValueError(f"invalid distribution {distribution}")


def timm_lecun_normal_(tensor):
    """timm.layers.lecun_normal_ (returns None, as timm's)."""
    timm_variance_scaling_(tensor, mode="fan_in", distribution="truncated_normal")


# library module -> {function name: fastinit's equivalent}
EQUIVALENTS = {
    "timm.layers.weight_init": {
        "trunc_normal_": timm_trunc_normal_,
        "trunc_normal_tf_": timm_trunc_normal_tf_,
        "variance_scaling_": timm_variance_scaling_,
        "lecun_normal_": timm_lecun_normal_,
    },
}


def loaded_equivalents() -> list[tuple[object, object]]:
    """(the library's function, fastinit's equivalent) for every library in
    EQUIVALENTS that is imported now (patched() imports none itself)."""
    pairs = []
    for module_name, functions in EQUIVALENTS.items():
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for name, ours in functions.items():
            theirs = getattr(module, name, None)
            if theirs is not None:
                pairs.append((theirs, ours))
    return pairs
