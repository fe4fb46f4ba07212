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
import itertools
import sys
from collections import Counter

import numpy as np
import torch
from torch import nn

from ._ops import draw_seeds
from .fills import current_name_keys, using_name_keys
from .sharding import is_dtensor

__all__ = ["keyed_by_name", "NameKeys", "name_keyed_seed"]

# Note [name-keyed seeds]
# ~~~~~~~~~~~~~~~~~~~~~~~~
# Inside a keyed block (materialize, reset_parameters, keyed_by_name), the
# seed of a fill is not drawn from the generator. It is
#
#     seed = name_keyed_seed(base, key, count)
#          = mix64(name_hash(key, count) ^ mix64(base)) with the top bit cleared
#     name_hash(key, count) = BLAKE2b with an 8-byte digest of the UTF-8
#                             text f"{key}#{count}", read little-endian
#     mix64(z)              = SplitMix64's finalizer: z ^= z >> 30;
#                             z *= 0xBF58476D1CE4E5B9; z ^= z >> 27;
#                             z *= 0x94D049BB133111EB; z ^= z >> 31 (mod 2^64)
#
# where `base` is one 63-bit seed drawn from the generator when the block
# starts (the generator advances by exactly one draw per block, whatever
# the model), `key` names the destination and `count` is how many fills
# of that key the block made before (0 for the first), so a protocol that
# fills a weight twice stays deterministic. mix64 is a bijection, so for one
# base distinct names give distinct seeds unless their 64-bit hashes
# collide; the name hashes do not depend on the base and are cached, so a
# whole model's seeds cost a dictionary look-up and a few integer
# operations per tensor. The key of a destination:
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
_MASK64 = (1 << 64) - 1
_SEED_MASK = (1 << 63) - 1


@functools.lru_cache(maxsize=1 << 18)
def name_hash(key: str, count: int) -> int:
    """BLAKE2b-64 of f"{key}#{count}" (Note [name-keyed seeds])."""
    return int.from_bytes(hashlib.blake2b(f"{key}#{count}".encode(), digest_size=8).digest(), "little")


def mix64(z: int) -> int:
    """SplitMix64's finalizer on a 64-bit integer (Note [name-keyed seeds])."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


# From this many seeds on, mixing them as one array beats a Python loop.
_VECTOR_MIN = 32


def _mix64_array(z: np.ndarray) -> np.ndarray:
    """mix64 on every element of a uint64 array (multiplications wrap), top
    bit cleared."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (z ^ (z >> np.uint64(31))) & np.uint64(_SEED_MASK)


def name_keyed_seed(base: int, key: str, count: int) -> int:
    """The seed of the `count`-th fill of `key` under base seed `base`
    (Note [name-keyed seeds])."""
    return mix64(name_hash(key, count) ^ mix64(base)) & _SEED_MASK


SEED_CHOICES = ("by_name", "in_order")  # the `seeds=` of materialize, reset_parameters and patched


def named_once(model: nn.Module, prefix: str = "") -> list[tuple[str, torch.Tensor]]:
    """Each parameter and buffer of `model` once, under its first qualified
    name (parameters first, in `named_parameters()` order: the name a tied
    tensor is keyed by, Note [name-keyed seeds])."""
    seen, named = set(), []
    for name, tensor in itertools.chain(model.named_parameters(prefix=prefix, remove_duplicate=False),
                                        model.named_buffers(prefix=prefix, remove_duplicate=False)):
        if id(tensor) not in seen:
            seen.add(id(tensor))
            named.append((name, tensor))
    return named


class NameKeys:
    """The keys of one model's tensors and the fill counts of one block.
    The index of the model's tensors by object and memory is read on first
    use (a planned model's fills come with their names and need none)."""

    def __init__(self, model: nn.Module, base: int, prefix: str = ""):
        self.prefix = prefix
        self.counts: Counter = Counter()
        self._model = model
        self._mixed_base = mix64(base)
        self._by_object: dict[int, str] | None = None

    def _index(self) -> None:
        self._by_object = {}
        spans = {}  # start address -> (end address, element size, name)
        for name, tensor in named_once(self._model, self.prefix):
            self._by_object[id(tensor)] = name
            local = tensor._local_tensor if is_dtensor(tensor) else tensor
            if isinstance(local, nn.parameter.UninitializedTensorMixin) or local.is_meta or local.numel() == 0:
                continue  # no memory to find it by (a lazy parameter has none yet)
            start = local.data_ptr()
            spans.setdefault(start, (start + local.numel() * local.element_size(), local.element_size(), name))
        self._starts = sorted(spans)
        self._spans = [spans[start] for start in self._starts]

    def key_of(self, tensor: torch.Tensor) -> str:
        if self._by_object is None:
            self._index()
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
        return self.seeds_of_keys([self.key_of(tensor) for tensor in tensors])

    def qualified(self, name: str) -> str:
        """The key of the model's tensor `name` (prefix in front)."""
        return f"{self.prefix}.{name}" if self.prefix else name

    def seeds_of_keys(self, keys: list[str]) -> list[int]:
        """One seed per key, in order, counting each key's fills."""
        counts, hashes = self.counts, []
        for key in keys:
            count = counts[key]
            counts[key] = count + 1
            hashes.append(name_hash(key, count))
        if len(hashes) < _VECTOR_MIN:
            return [mix64(h ^ self._mixed_base) & _SEED_MASK for h in hashes]
        return _mix64_array(np.array(hashes, dtype=np.uint64) ^ np.uint64(self._mixed_base)).tolist()


@contextlib.contextmanager
def keyed_by_name(model: nn.Module, generator: torch.Generator | None = None, prefix: str = ""):
    """Within the block, every fastinit fill (the `fastinit.init` functions,
    patched model code, the rules of `reset_parameters`) takes its seed from
    the destination's qualified name in `model` instead of a draw from the
    generator (Note [name-keyed seeds]). One base seed is drawn from
    `generator` (default: torch's default CPU generator) on entry. `prefix`
    is the name of `model` inside the whole model, for a submodule keyed on
    its own ("layers.3"). The model's tensors are found by their memory
    when the block first needs them: allocate them before the first fill."""
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


def wrap_protocols(wrapped: list[tuple[type, str, object]]) -> None:
    """Wraps the loaded libraries' protocol methods (Note [keyed model
    protocols]), appending (class, name, original) to `wrapped` as each is
    wrapped, so that a failure midway leaves a complete list to restore."""
    for module_name, class_name, method_name in _PROTOCOLS:
        owner = getattr(sys.modules.get(module_name), class_name, None)
        method = owner.__dict__.get(method_name) if owner is not None else None
        if method is not None and not hasattr(method, "__wrapped_by_fastinit__"):
            wrapped.append((owner, method_name, method))
            setattr(owner, method_name, _keyed_protocol(method))
