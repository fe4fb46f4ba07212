"""Name-keyed seeds: a tensor's values as a function of the base seed and
its qualified name, so that any part of a model gets the values it has in
the whole (Note [name-keyed seeds]).

    with fastinit.keyed_by_name(model):      # one draw from the generator
        model.init_weights()                 # each fill keyed by its tensor's name

`materialize` and `reset_parameters` key their fills this way by default
(`seeds="by_name"`); the `torch.nn.init` functions called outside such a
block keep one draw per call, as torch's contract wants.
"""

import bisect
import contextlib
import contextvars
import functools
import hashlib
import sys
from collections import Counter

import torch
from torch import nn

from ._ops import current_name_keys, draw_seeds, using_name_keys
from .sharding import is_dtensor

__all__ = ["keyed_by_name", "NameKeys", "name_keyed_seed"]

# Note [name-keyed seeds]
# ~~~~~~~~~~~~~~~~~~~~~~~~
# Inside a keyed block (materialize, reset_parameters, keyed_by_name), the
# seed of a fill is not drawn from the generator. It is
#
#     seed = name_keyed_seed(base, key, count)
#          = the first 8 bytes, read little-endian, of
#            BLAKE2b(message = UTF-8 of f"{key}#{count}", digest_size = 8,
#                    key = base as 8 little-endian bytes), the top bit cleared
#
# where `base` is one 63-bit seed drawn from the generator when the block
# starts (the generator advances by exactly one draw per block, whatever
# the model), `key` names the destination and `count` is how many fills
# of that key the block made before (0 for the first), so a protocol that
# fills a weight twice stays deterministic. The key of a destination:
#
# - a parameter or buffer of the model: its qualified name, as
#   `named_parameters()` / `named_buffers()` give it (with `prefix` in
#   front when a submodule is keyed on its own). A tensor held under several
#   names (tied weights) takes the first name in that order;
# - a view of one that does not cover it whole (a padding row, a slice of
#   a fused weight): the name, then "[offset:shape:strides]" in elements,
#   offset from the tensor's first element, e.g. "emb.weight[512:(1, 512):(512, 1)]";
# - a DTensor: its global name (the local shard's memory or the DTensor
#   object itself identifies it), so every rank derives the same seed and
#   fills its slice of the global values (Note [shard windows]);
# - anything else (a temporary the protocol fills and copies): "<unnamed>",
#   counted like any key, so it depends on the order of such fills only.
#
# Values are then a pure function of (base seed, name, fill count, shape,
# distribution): a pipeline stage, a submodule keyed with its prefix or a
# model built in another module order gets the tensors of the same names
# bit for bit. The fills' own arithmetic is unchanged (Note [fastinit RNG
# contract]): only where the seed comes from differs.

UNNAMED = "<unnamed>"
_SEED_MASK = (1 << 63) - 1


def name_keyed_seed(base: int, key: str, count: int) -> int:
    """The seed of the `count`-th fill of `key` under base seed `base`
    (Note [name-keyed seeds])."""
    digest = hashlib.blake2b(f"{key}#{count}".encode(), digest_size=8, key=base.to_bytes(8, "little")).digest()
    return int.from_bytes(digest, "little") & _SEED_MASK


class NameKeys:
    """The keys of one model's tensors and the fill counts of one block."""

    def __init__(self, model: nn.Module, base: int, prefix: str = ""):
        self.base = base
        self.counts: Counter = Counter()
        self._by_object: dict[int, str] = {}
        spans = {}  # start address -> (end address, element size, name)
        named = list(model.named_parameters(prefix=prefix, remove_duplicate=False))
        named += list(model.named_buffers(prefix=prefix, remove_duplicate=False))
        for name, tensor in named:
            if id(tensor) in self._by_object:
                continue  # tied: the first name holds
            self._by_object[id(tensor)] = name
            local = tensor._local_tensor if is_dtensor(tensor) else tensor
            if isinstance(local, nn.parameter.UninitializedTensorMixin) or local.is_meta or local.numel() == 0:
                continue  # no memory to find it by (a lazy parameter has none yet)
            start = local.data_ptr()
            spans.setdefault(start, (start + local.numel() * local.element_size(), local.element_size(), name))
        self._starts = sorted(spans)
        self._spans = [spans[start] for start in self._starts]

    def key_of(self, tensor: torch.Tensor) -> str:
        name = self._by_object.get(id(tensor))
        if name is not None:
            return name
        local = tensor._local_tensor if is_dtensor(tensor) else tensor
        if local.is_meta or local.numel() == 0:
            return UNNAMED
        address = local.data_ptr()
        at = bisect.bisect_right(self._starts, address) - 1
        if at < 0:
            return UNNAMED
        start, (end, element_size, name) = self._starts[at], self._spans[at]
        if address >= end:
            return UNNAMED
        offset = (address - start) // element_size
        if offset == 0 and local.is_contiguous() and local.numel() * element_size == end - start:
            return name
        return f"{name}[{offset}:{tuple(local.shape)}:{tuple(local.stride())}]"

    def seeds(self, tensors: list) -> list[int]:
        """One seed per tensor, in order, counting each key's fills."""
        seeds = []
        for tensor in tensors:
            key = self.key_of(tensor)
            seeds.append(name_keyed_seed(self.base, key, self.counts[key]))
            self.counts[key] += 1
        return seeds


@contextlib.contextmanager
def keyed_by_name(model: nn.Module, generator: torch.Generator | None = None, prefix: str = ""):
    """Within the block, every fastinit fill (the `fastinit.init` functions,
    patched model code, the rules of `reset_parameters`) takes its seed from
    the destination's qualified name in `model` instead of a draw from the
    generator (Note [name-keyed seeds]). One base seed is drawn from
    `generator` (default: torch's default CPU generator) on entry. `prefix`
    is the name of `model` inside the whole model, for a submodule keyed on
    its own ("layers.3"). Tensors must be allocated before the block: the
    keys are read from their memory on entry."""
    keys = NameKeys(model, draw_seeds(generator, 1)[0], prefix)
    with using_name_keys(keys):
        yield keys


# Note [keyed model protocols]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# transformers runs every initialization of a model's weights through one
# method, PreTrainedModel.initialize_weights: the whole model's (post_init,
# init_weights) and, in from_pretrained, that of the weights the checkpoint
# lacks (missing keys, or mismatched shapes with ignore_mismatched_sizes).
# In patched(seeds="by_name"), that method runs in a keyed block of the
# model it is called on, unless a block is already open (materialize's).
# So a classification head that from_pretrained initializes gets the values
# the whole model, materialized from the same generator state, gives it.
# The method is wrapped on the class while patched (patch()/unpatch() swap
# it with the rest); the wrapper keys only on threads whose patched() asked
# for it.
_keying_protocols: contextvars.ContextVar = contextvars.ContextVar("fastinit_keying_protocols", default=False)
_PROTOCOLS = (("transformers.modeling_utils", "PreTrainedModel", "initialize_weights"),)


@contextlib.contextmanager
def keying_protocols():
    """Within the block (this thread), model protocols listed in
    _PROTOCOLS run keyed by name (Note [keyed model protocols])."""
    token = _keying_protocols.set(True)
    try:
        yield
    finally:
        _keying_protocols.reset(token)


def _keyed_protocol(method):
    @functools.wraps(method)
    def keyed(self, *args, **kwargs):
        if not _keying_protocols.get() or current_name_keys() is not None:
            return method(self, *args, **kwargs)
        with keyed_by_name(self):
            return method(self, *args, **kwargs)

    keyed.__wrapped_by_fastinit__ = method
    return keyed


def wrap_protocols() -> list[tuple[type, str, object]]:
    """Wraps the loaded libraries' protocol methods (Note [keyed model
    protocols]); returns (class, name, original) to restore."""
    wrapped = []
    for module_name, class_name, method_name in _PROTOCOLS:
        owner = getattr(sys.modules.get(module_name), class_name, None)
        method = owner.__dict__.get(method_name) if owner is not None else None
        if method is not None and not hasattr(method, "__wrapped_by_fastinit__"):
            setattr(owner, method_name, _keyed_protocol(method))
            wrapped.append((owner, method_name, method))
    return wrapped
