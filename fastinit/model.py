"""Whole models: reset_parameters() and materialize().

Both walk the module tree in `named_modules()` order, decide for every
parameter (and, for materialize, every buffer) how to fill it, and then fill
everything of one distribution in one batched op call. Where a tensor's fill
comes from, first match wins:

1. `rules` by name: a key with a dot or a wildcard ("encoder.*.weight",
   fnmatch syntax) matched against the tensor's qualified name;
2. `rules` by module type: a key that is a class; the value is a spec for
   every direct parameter of such modules, or a dict {name: spec};
3. the built-in rules: the distributions of each torch.nn module's own
   reset_parameters (fastinit.rules);
4. a module's own reset_parameters (custom modules), run under patched()
   with the same generator.

Shared (tied) tensors are filled once, by their first owner.

Seeds (`seeds=`): "by_name" (default) keys every fill by its tensor's
qualified name (with `prefix=` in front for a submodule that is part of a
larger model): one base seed is drawn from the generator, and each tensor's
values depend on that seed, its name, shape and distribution only, not on
which other modules exist or in which order they run (Note [name-keyed
seeds] in fastinit.keyed). So a pipeline stage, a partial model or a
reordered one gets the tensors the whole model has under the same names.
"in_order" draws one seed per random tensor in module order instead, so the
batched result equals calling the single-tensor functions one by one in that
order (the RNG contract of the fastinit.init functions).
"""

import contextlib
import inspect
import warnings

import torch
from torch import nn

from ._ops import module_tree
from .generators import using_generator
from .allocation import allocate_flat
from .keyed import SEED_CHOICES, keyed_by_name
from .patching import patched
from .planning import planned
from .sharding import is_dtensor

__all__ = ["reset_parameters", "materialize"]


def _seeding(function: str, module: nn.Module, seeds: str, prefix: str, generator):
    """The block that keys the fills of `function` (see the module
    docstring's "Seeds")."""
    if seeds not in SEED_CHOICES:
        raise ValueError(f"fastinit.{function}: seeds must be one of {SEED_CHOICES}, got {seeds!r}")
    if seeds == "in_order":
        if prefix:
            raise ValueError(f"fastinit.{function}: prefix={prefix!r} names tensors, which seeds='in_order' "
                             "does not; use seeds='by_name'")
        return contextlib.nullcontext()
    return keyed_by_name(module, generator, prefix)


def reset_parameters(module: nn.Module, rules: dict | None = None, generator: torch.Generator | None = None,
                     seeds: str = "by_name", prefix: str = "") -> nn.Module:
    """Re-initialize every parameter of `module` (and BatchNorm running
    statistics) with the distributions of each module's own
    reset_parameters, batched; see the module docstring for `rules`,
    `seeds` and `prefix`. Parameters no rule covers keep their values (a
    warning lists them); uninitialized lazy parameters are skipped with a
    warning."""
    seeding = _seeding("reset_parameters", module, seeds, prefix, generator)
    plan, modules, tensors = planned(module, rules, include_buffers=False)
    if plan.lazy:
        warnings.warn(f"fastinit.reset_parameters: skipping uninitialized lazy parameters {plan.lazy}; "
                      "run a forward pass first", stacklevel=2)
    if plan.unhandled:
        warnings.warn(f"fastinit.reset_parameters: no rule for {plan.unhandled}; left unchanged "
                      "(give `rules` for them)", stacklevel=2)
    with seeding:
        plan.execute(modules, tensors, generator)
    return module


_INIT_CHOICES = ("auto", "model", "rules")


def own_init(module: nn.Module):
    """The model's own initialization protocol, as a callable taking the
    device for buffers, or None: an `init_weights` method, as transformers'
    PreTrainedModel (which also restores buffers such as rotary `inv_freq`
    and re-ties tied weights), torchtitan-style models
    (`init_weights(buffer_device=...)`) and timm's models have."""
    method = getattr(module, "init_weights", None)
    if not callable(method):
        return None
    try:
        takes_buffer_device = "buffer_device" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        takes_buffer_device = False
    if takes_buffer_device:
        return lambda device: method(buffer_device=device)
    return lambda device: method()


def materialize(module: nn.Module, device=None, rules: dict | None = None, generator: torch.Generator | None = None,
                init: str = "auto", seeds: str = "by_name", prefix: str = "") -> nn.Module:
    """Allocate a model built on the meta device and initialize it.

    All parameters and buffers become views into one flat allocation on
    `device` (default: CPU), 64-byte aligned and contiguous; tied tensors stay
    tied. On the CPU the fills fault the allocation's pages in
    (FASTINIT_POPULATE=1 has the kernel populate them first and
    FASTINIT_HUGE_PAGES=1 advises transparent huge pages; see
    fastinit.allocation).

    `init` says what fills the tensors:

    - "model": the model's own protocol (`own_init`: transformers'
      `init_weights()`, torchtitan's `init_weights(buffer_device=device)`,
      timm's `init_weights()`), run under patched() with `generator` as
      every fill's default generator, so each of its fills, and the random
      fills it makes any other way, runs on fastinit's kernels. On the CPU
      (unsharded) those fills are deferred: a fill the protocol overwrites
      before anything reads it is skipped, with every tensor's bits and the
      generator's state those of running each fill as called (Note
      [deferred fills] in fastinit.deferral). The protocol
      is trusted to fill what it owns, buffers included (the fresh
      allocation reads as zeros where it writes nothing). `rules`, if
      given, then refill the tensors they name (by name or module type).
    - "rules": the batched rules (`rules`, the built-in torch.nn rules, a
      custom module's reset_parameters; see the module docstring). A tensor
      no rule covers is an error naming it, raised before anything is
      allocated: a buffer computed in a module's __init__ cannot be
      recovered from the meta device.
    - "auto" (default): "model" when the model has a protocol, else "rules".

    Sharded models (DTensor parameters, e.g. FSDP2's fully_shard applied on
    the meta device) are allocated with `module.to_empty(device=device)`
    instead, and each rank fills its shards with their slices of the values
    the unsharded model would get (fastinit.sharding).

    `seeds` and `prefix`: see the module docstring. With the default
    "by_name", a pipeline stage (a copy of the whole model with the other
    stages' layers deleted, names kept, as torchtitan builds them) gets
    exactly the whole model's tensors of the same names; a submodule
    materialized alone does with `prefix` set to its name in the whole.
    """
    return materialize_part(module, None, device, rules, generator, init, seeds, prefix)


def materialize_part(module: nn.Module, part: set[int] | None, device=None, rules: dict | None = None,
                     generator: torch.Generator | None = None, init: str = "auto", seeds: str = "by_name",
                     prefix: str = "", storage: torch.Tensor | None = None) -> nn.Module:
    """materialize() for the tensors whose id() is in `part` (all: None);
    the others stay on the meta device, and fills of them write nothing.
    With seeds="by_name" each tensor of the part gets the values the whole
    model's materialize gives it, as long as the init writes it from
    nothing outside the part (an op mixing it with a meta tensor raises).
    `storage`: a byte buffer to hold the part (allocation.allocate_flat).
    fastinit.checkpoint writes a model one file at a time this way."""
    if init not in _INIT_CHOICES:
        raise ValueError(f"fastinit.materialize: init must be one of {_INIT_CHOICES}, got {init!r}")
    seeding = _seeding("materialize", module, seeds, prefix, generator)
    device = torch.device(device if device is not None else "cpu")
    tensors: dict[int, torch.Tensor] = {}
    for _, t in module.named_parameters(remove_duplicate=True):
        tensors.setdefault(id(t), t)
    for _, t in module.named_buffers(remove_duplicate=True):
        tensors.setdefault(id(t), t)
    not_meta = [t for t in tensors.values() if not t.is_meta]
    if not_meta:
        raise ValueError("fastinit.materialize expects a model built on the meta device; "
                         f"{len(not_meta)} tensors are on {not_meta[0].device}")
    protocol = own_init(module) if init != "rules" else None
    if init == "model" and protocol is None:
        raise ValueError(f"fastinit.materialize: init='model' but {type(module).__name__} has no init_weights method; "
                         "use init='rules'")
    plan = None
    if protocol is None:
        plan, _, _ = planned(module, rules, include_buffers=True)
        if plan.unhandled or plan.lazy:
            raise ValueError("fastinit.materialize: no rule fills " + ", ".join(plan.unhandled + plan.lazy)
                             + "; pass rules={name or module type: spec} for them")

    sharded = any(map(is_dtensor, tensors.values()))
    if sharded:
        # Sharded models (FSDP2 fully_shard, DTensor parallelism) keep their
        # own storage bookkeeping: allocate through Module.to_empty, which
        # FSDP2 hooks, and fill each local shard with its slice.
        module.to_empty(device=device)
        plan = None  # planned anew for the new tensors
    else:
        allocated = tensors if part is None else {key: t for key, t in tensors.items() if key in part}
        allocate_flat(module, allocated, device, "fastinit.materialize", storage)
    with seeding:
        if protocol is not None:
            with patched(defer_fills=not sharded and device.type == "cpu"), using_generator(generator):
                protocol(device)
            if rules:  # they win: refill what they name
                rules_only, modules, walk = planned(module, rules, include_buffers=True, builtin=False)
                rules_only.execute(modules, walk, generator)
            return module
        if plan is None:
            plan, modules, walk = planned(module, rules, include_buffers=True)
        else:  # the same tree with each tensor replaced in place: the plan holds (Note [cached plans])
            _, modules, walk = module_tree(module)
        plan.execute(modules, walk, generator)
    return module
