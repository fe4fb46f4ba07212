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
   reset_parameters (_TORCH_NN_RULES below);
4. a module's own reset_parameters (custom modules), run under patched()
   with the same generator.

Shared (tied) tensors are filled once, by their first owner. Seeds are drawn
in module order, one per random tensor, so the batched result equals calling
the single-tensor functions one by one in that order (the RNG contract).
"""

import fnmatch
import inspect
import math
import os
import warnings
import weakref
from collections import defaultdict
from collections.abc import Callable

import torch
from torch import nn

from ._ops import (RANDOM_KINDS, draw_seeds, empty_flat, fill_batch, fill_random, module_tree, op_parameters,
                   require_floating, using_generator)
from .fans import kaiming_std
from .orthogonal import orthogonal_matrices
from .patching import patched
from .sharding import fill_through_full, is_dtensor
from .specs import Call, Constant, Fill, Init, Normal, Uniform, XavierNormal, XavierUniform

__all__ = ["reset_parameters", "materialize"]

_ALIGNMENT = 64  # bytes between tensors of a materialized model


# --------------------------------------------------------- built-in rules
_SQRT5 = math.sqrt(5)


def _linear_or_conv(m):
    # kaiming_uniform_(weight, a=sqrt(5)) and the bias bound 1/sqrt(fan_in),
    # with kaiming_uniform_'s arithmetic (fastinit.fans), resolved here.
    shape = m.weight.shape
    fan_in = shape[1] * math.prod(shape[2:])
    if fan_in == 0:  # kaiming_uniform_ leaves zero-element weights alone
        rules = {}
    else:
        bound = math.sqrt(3.0) * kaiming_std(shape, _SQRT5, "fan_in", "leaky_relu")
        rules = {"weight": Fill("uniform", (-bound, bound))}
    if m.bias is not None:
        bias_bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        rules["bias"] = Fill("uniform", (-bias_bound, bias_bound))
    return rules


def _bilinear(m):
    bound = 1 / math.sqrt(m.weight.size(1))
    return {name: Uniform(-bound, bound) for name in ("weight", "bias") if getattr(m, name) is not None}


def _embedding(m):
    if m.padding_idx is None:
        return {"weight": Normal(0.0, 1.0)}

    padding_idx = m.padding_idx  # not the module: plans are cached (Note [cached plans])

    def normal_then_zero_padding(weight, generator):
        from . import init

        init.normal_(weight, generator=generator)
        with torch.no_grad():
            weight[padding_idx].fill_(0)

    return {"weight": Call(normal_then_zero_padding)}


def _affine_norm(m):
    return {name: Constant(1.0 if name == "weight" else 0.0) for name in ("weight", "bias") if getattr(m, name, None) is not None}


def _batch_norm(m):
    rules = _affine_norm(m)
    if m.track_running_stats and m.running_mean is not None:
        rules.update(running_mean=Constant(0.0), running_var=Constant(1.0), num_batches_tracked=Constant(0))
    return rules


def _multihead_attention(m):
    rules = {}
    if m._qkv_same_embed_dim:
        rules["in_proj_weight"] = XavierUniform()
    else:
        rules.update(q_proj_weight=XavierUniform(), k_proj_weight=XavierUniform(), v_proj_weight=XavierUniform())
    if m.in_proj_bias is not None:
        rules["in_proj_bias"] = Constant(0.0)
        rules["out_proj.bias"] = Constant(0.0)
    if m.bias_k is not None:
        rules["bias_k"] = XavierNormal()
    if m.bias_v is not None:
        rules["bias_v"] = XavierNormal()
    return rules


def _recurrent(m):
    stdv = 1.0 / math.sqrt(m.hidden_size) if m.hidden_size > 0 else 0
    return {name: Uniform(-stdv, stdv) for name, _ in m.named_parameters(recurse=False)}


def _prelu(m):
    return {"weight": Constant(m.init)}


def _transformer(m):
    # nn.Transformer re-initializes every matrix with Xavier after building.
    return {name: XavierUniform() for name, p in m.named_parameters() if p.dim() > 1}


_TORCH_NN_RULES: dict[type, Callable] = {
    nn.Linear: _linear_or_conv,
    nn.modules.conv._ConvNd: _linear_or_conv,
    nn.Bilinear: _bilinear,
    nn.Embedding: _embedding,
    nn.EmbeddingBag: _embedding,
    nn.LayerNorm: _affine_norm,
    nn.GroupNorm: _affine_norm,
    nn.RMSNorm: _affine_norm,
    nn.modules.batchnorm._NormBase: _batch_norm,
    nn.MultiheadAttention: _multihead_attention,
    nn.RNNBase: _recurrent,
    nn.RNNCellBase: _recurrent,
    nn.PReLU: _prelu,
    nn.Transformer: _transformer,
}


_RULE_OF_TYPE: dict[type, Callable | None] = {}


def _builtin_rules(module: nn.Module) -> dict[str, Init] | None:
    cls = type(module)
    try:
        rule = _RULE_OF_TYPE[cls]
    except KeyError:
        rule = next((r for t, r in _TORCH_NN_RULES.items() if issubclass(cls, t)), None)
        _RULE_OF_TYPE[cls] = rule
    return rule(module) if rule is not None else None


# --------------------------------------------------------------- planning
def _get(module: nn.Module, path: str) -> torch.Tensor | None:
    if "." not in path:
        tensor = module._parameters.get(path)
        return tensor if tensor is not None else module._buffers.get(path)
    owner, _, name = path.rpartition(".")
    return getattr(module.get_submodule(owner), name, None)


def _qualify(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _split_rules(rules):
    by_name, by_type = {}, {}
    for key, spec in (rules or {}).items():
        (by_type if isinstance(key, type) else by_name)[key] = spec
    return by_name, by_type


def _type_rules(module, by_type):
    for module_type, spec in by_type.items():
        if isinstance(module, module_type):
            if isinstance(spec, dict):
                return dict(spec)
            return {name: spec for name, _ in module.named_parameters(recurse=False)}
    return None


_Uninitialized = nn.parameter.UninitializedTensorMixin


# Note [cached plans]
# ~~~~~~~~~~~~~~~~~~~
# Planning a model (rules per module, name patterns, specs resolved against
# tensors) costs microseconds per tensor in Python; re-initializing the same
# model again (restarts, sweeps, tests) should cost little more than its
# fills. A plan therefore names tensors and modules by their position in the
# walk of module_tree (csrc/python_module.cpp), and is cached per root module (weakly) with the
# walk's signature and the rules: a changed tree, parameter or buffer object,
# shape, dtype or device, or different rules, plans anew. A plan holds no
# tensor and no module, so the cache never keeps a model alive. Module
# attributes the built-in rules read (Embedding.padding_idx,
# RNN.hidden_size, ...) are taken as fixed once the module is built.
_PLANS: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


def _rules_key(rules) -> tuple | None:
    if rules is None:
        return None
    return tuple((key, tuple(spec.items()) if isinstance(spec, dict) else spec) for key, spec in rules.items())


def _planned(model: nn.Module, rules, include_buffers: bool, builtin: bool = True):
    """(plan, modules, tensors): the cached plan of `model` if still valid
    (Note [cached plans]), and the walk it refers to. Without `builtin`,
    only `rules` fill anything (no built-in rules, no reset_parameters, no
    tensor left unhandled)."""
    signature, modules, tensors = module_tree(model)
    key = (signature, include_buffers, _rules_key(rules), builtin)
    cached = _PLANS.get(model)
    if cached is not None and cached[0] == key:
        return cached[1], modules, tensors
    plan = _Plan(model, rules, include_buffers, modules, tensors, builtin)
    _PLANS[model] = (key, plan)
    return plan, modules, tensors


class _Plan:
    """What fills what, in module order: items (tensor position, Fill) into
    the walk of module_tree (csrc/python_module.cpp); "reset_module" items name a module's
    position instead."""

    def __init__(self, model: nn.Module, rules, include_buffers: bool, walk_modules: list, walk_tensors: list,
                 builtin: bool = True):
        items: list[tuple[torch.Tensor | nn.Module, Fill]] = []
        self.unhandled: list[str] = []
        self.lazy: list[str] = []
        by_name, by_type = _split_rules(rules)
        seen: set[int] = set()

        def add(tensor, spec, qualified):
            if by_name:
                for pattern, named_spec in by_name.items():
                    if fnmatch.fnmatchcase(qualified(), pattern):
                        spec = named_spec
                        break
            fill = spec if isinstance(spec, Fill) or spec is None else spec.resolve(tensor)
            if fill is not None:
                items.append((tensor, fill))

        for prefix, module in model.named_modules():
            own = [(n, t) for n, t in module._parameters.items() if t is not None]
            if include_buffers:
                own += [(n, t) for n, t in module._buffers.items() if t is not None]
            if any(isinstance(t, _Uninitialized) for _, t in own):
                self.lazy += [_qualify(prefix, name) for name, _ in own]
                seen.update(id(t) for _, t in own)
                continue
            module_rules = _type_rules(module, by_type) if by_type else None
            if module_rules is None and builtin:
                module_rules = _builtin_rules(module)
            if module_rules is None and builtin and hasattr(module, "reset_parameters") and own:
                # A custom module: its own reset_parameters, under patched();
                # name rules still win (their fills run after the call).
                seen.update(id(t) for _, t in own)
                items.append((module, Fill("reset_module", ())))
                for name, tensor in own:
                    qualified = _qualify(prefix, name)
                    if any(fnmatch.fnmatchcase(qualified, p) for p in by_name):
                        add(tensor, None, lambda: qualified)
                continue
            for path, spec in (module_rules or {}).items():
                tensor = _get(module, path)
                if tensor is None or id(tensor) in seen:
                    continue
                seen.add(id(tensor))
                if by_name or not isinstance(spec, Fill):
                    add(tensor, spec, lambda: _qualify(prefix, path))
                else:
                    items.append((tensor, spec))
            for name, tensor in own:
                if id(tensor) in seen:
                    continue
                seen.add(id(tensor))
                qualified = _qualify(prefix, name)
                if any(fnmatch.fnmatchcase(qualified, p) for p in by_name):
                    add(tensor, None, lambda: qualified)
                elif builtin:
                    self.unhandled.append(f"{qualified} ({type(module).__name__})")

        position = {id(t): i for i, t in enumerate(walk_tensors) if t is not None}
        position.update((id(m), i) for i, m in enumerate(walk_modules))
        self.items = [(position[id(target)], fill) for target, fill in items]
        self._schedule: _Schedule | None = None

    def execute(self, modules: list, tensors: list, generator: torch.Generator | None) -> None:
        if self._schedule is None:
            self._schedule = _Schedule(self.items, tensors)  # checks first: may raise
        self._schedule.run(modules, tensors, generator)


class _Schedule:
    """A plan's op calls for the tensors it was made for.

    Seeds in module order: one draw per run of random fills between two
    calls (which draw their own), n at once equalling n single draws. Then
    one op call per (distribution, device), and the constants."""

    def __init__(self, items: list, tensors: list):
        for index, fill in items:  # orthogonal_'s checks, before anything is written
            if fill.kind == "orthogonal":
                if tensors[index].dim() < 2:
                    raise ValueError("Only tensors with 2 or more dimensions are supported")
                require_floating("orthogonal_", tensors[index])
        self.calls: list[tuple[int, int, Fill]] = []  # (seeds to draw before, position, fill)
        random = []  # (position, fill), in order
        drawn = 0  # seeds drawn before the last call
        for index, fill in items:
            if fill.kind in RANDOM_KINDS or fill.kind == "orthogonal":
                tensor = tensors[index]
                if not tensor.is_meta and (fill.kind != "orthogonal" or tensor.numel() > 0):
                    random.append((index, fill))  # as the single-tensor functions skip them
            elif fill.kind in ("call", "reset_module"):
                self.calls.append((len(random) - drawn, index, fill))
                drawn = len(random)
        self.last_draw = len(random) - drawn
        groups = defaultdict(list)
        for order, (index, fill) in enumerate(random):
            gain = fill.params if fill.kind == "orthogonal" else None
            groups[(fill.kind, tensors[index].device, gain)].append((order, index, fill.params))
        self.groups = []  # (kind, gain, positions, seed orders, Fill params, op parameters or None if sharded)
        for (kind, _, gain), members in groups.items():
            orders, positions, params = (list(column) for column in zip(*members))
            sharded = any(is_dtensor(tensors[i]) for i in positions)
            op_params = None if sharded or kind == "orthogonal" else op_parameters(kind, params)
            self.groups.append((kind, gain, positions, orders, params, op_params))
        self.constants = [(index, fill.params[0]) for index, fill in items if fill.kind == "constant"]

    def run(self, modules: list, tensors: list, generator) -> None:
        seeds: list[int] = []
        for count, index, fill in self.calls:
            seeds += draw_seeds(generator, count)
            if fill.kind == "reset_module":
                with patched(), using_generator(generator):
                    modules[index].reset_parameters()
            else:
                fill.params[0](tensors[index], generator)
        seeds += draw_seeds(generator, self.last_draw)
        for kind, gain, positions, orders, params, op_params in self.groups:
            group, group_seeds = [tensors[i] for i in positions], [seeds[k] for k in orders]
            if kind == "orthogonal":  # batched per shape (DTensors: see fill_through_full)
                fill_through_full(group, lambda full: orthogonal_matrices(full, gain[0], seeds=group_seeds))
            elif op_params is None:  # DTensors: each local shard its slice
                fill_random(kind, group, group_seeds, params)
            else:
                fill_batch(kind, group, group_seeds, op_params)
        with torch.no_grad():
            for index, value in self.constants:
                tensors[index].fill_(value)


def reset_parameters(module: nn.Module, rules: dict | None = None, generator: torch.Generator | None = None) -> nn.Module:
    """Re-initialize every parameter of `module` (and BatchNorm running
    statistics) with the distributions of each module's own
    reset_parameters, batched; see the module docstring for `rules`.
    Parameters no rule covers keep their values (a warning lists them);
    uninitialized lazy parameters are skipped with a warning."""
    plan, modules, tensors = _planned(module, rules, include_buffers=False)
    if plan.lazy:
        warnings.warn(f"fastinit.reset_parameters: skipping uninitialized lazy parameters {plan.lazy}; "
                      "run a forward pass first", stacklevel=2)
    if plan.unhandled:
        warnings.warn(f"fastinit.reset_parameters: no rule for {plan.unhandled}; left unchanged "
                      "(give `rules` for them)", stacklevel=2)
    plan.execute(modules, tensors, generator)
    return module


def _allocate(nbytes: int, device: torch.device) -> torch.Tensor:
    """One flat byte buffer; on the CPU 2 MiB-aligned and already resident:
    the kernel populates its pages from every thread, 1.5-2x faster than
    faulting them in by first touch (Note [populated allocations] in
    csrc/python_module.cpp).

    Transparent huge pages are advised only with FASTINIT_HUGE_PAGES=1: where
    the kernel compacts memory synchronously for madvised regions (THP
    `defrag` = madvise, the common default) they populated at anything from
    1 to 14 GB/s from run to run on 2-vCPU EPYC VMs.
    """
    if device.type == "cpu":
        return empty_flat(nbytes, os.environ.get("FASTINIT_HUGE_PAGES", "0") == "1")
    return torch.empty(nbytes, dtype=torch.uint8, device=device)


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
                init: str = "auto") -> nn.Module:
    """Allocate a model built on the meta device and initialize it.

    All parameters and buffers become views into one flat allocation on
    `device` (default: CPU), 64-byte aligned and contiguous; tied tensors stay
    tied. On the CPU the kernel populates the allocation's pages from every
    thread before the fill (FASTINIT_HUGE_PAGES=1 also advises transparent
    huge pages; see _allocate).

    `init` says what fills the tensors:

    - "model": the model's own protocol (`own_init`: transformers'
      `init_weights()`, torchtitan's `init_weights(buffer_device=device)`,
      timm's `init_weights()`), run under patched() with `generator` as
      every fill's default generator, so each of its fills, and the random
      fills it makes any other way, runs on fastinit's kernels. The protocol
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
    """
    if init not in _INIT_CHOICES:
        raise ValueError(f"fastinit.materialize: init must be one of {_INIT_CHOICES}, got {init!r}")
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
        plan, _, _ = _planned(module, rules, include_buffers=True)
        if plan.unhandled or plan.lazy:
            raise ValueError("fastinit.materialize: no rule fills " + ", ".join(plan.unhandled + plan.lazy)
                             + "; pass rules={name or module type: spec} for them")

    if any(map(is_dtensor, tensors.values())):
        # Sharded models (FSDP2 fully_shard, DTensor parallelism) keep their
        # own storage bookkeeping: allocate through Module.to_empty, which
        # FSDP2 hooks, and fill each local shard with its slice.
        module.to_empty(device=device)
        plan = None  # planned anew for the new tensors
    else:
        _allocate_flat(module, tensors, device)
    if protocol is not None:
        with patched(), using_generator(generator):
            protocol(device)
        if rules:  # they win: refill what they name
            rules_only, modules, walk = _planned(module, rules, include_buffers=True, builtin=False)
            rules_only.execute(modules, walk, generator)
        return module
    if plan is None:
        plan, modules, walk = _planned(module, rules, include_buffers=True)
    else:  # the same tree with each tensor replaced in place: the plan holds (Note [cached plans])
        _, modules, walk = module_tree(module)
    plan.execute(modules, walk, generator)
    return module


def _allocate_flat(module: nn.Module, tensors: dict[int, torch.Tensor], device: torch.device) -> None:
    """Replace every tensor of `module` by a view into one flat allocation."""
    offsets, nbytes = {}, 0
    for key, t in tensors.items():
        offsets[key] = nbytes
        nbytes += -(-t.numel() * t.element_size() // _ALIGNMENT) * _ALIGNMENT
    flat = _allocate(max(nbytes, 1), device)
    replacements = {}
    for key, t in tensors.items():
        size = t.numel() * t.element_size()
        view = flat[offsets[key]:offsets[key] + size].view(t.dtype).view(t.shape)
        replacements[key] = nn.Parameter(view, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else view
    for owner in module.modules():
        for store in (owner._parameters, owner._buffers):
            for name, t in store.items():
                if t is not None and id(t) in replacements:
                    store[name] = replacements[id(t)]
