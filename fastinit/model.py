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
import math
import os
import warnings
from collections import defaultdict
from collections.abc import Callable

import torch
from torch import nn

from . import _C
from . import init as fast_init
from ._ops import RANDOM_KINDS, draw_seeds, fill_random, require_floating, using_generator
from .patching import patched
from .sharding import fill_through_full, is_dtensor
from .specs import Call, Constant, Fill, Init, Normal, Uniform, XavierNormal, XavierUniform

__all__ = ["reset_parameters", "materialize"]

_ALIGNMENT = 64  # bytes between tensors of a materialized model


# --------------------------------------------------------- built-in rules
_SQRT5_GAIN = fast_init.calculate_gain("leaky_relu", math.sqrt(5))


def _linear_or_conv(m):
    # kaiming_uniform_(weight, a=sqrt(5)) and the bias bound 1/sqrt(fan_in),
    # with kaiming_uniform_'s exact arithmetic, resolved here for speed.
    shape = m.weight.shape
    fan_in = shape[1] * math.prod(shape[2:])
    if fan_in == 0:  # kaiming_uniform_ leaves zero-element weights alone
        rules = {}
    else:
        bound = math.sqrt(3.0) * (_SQRT5_GAIN / math.sqrt(fan_in))
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

    def normal_then_zero_padding(weight, generator):
        from . import init

        init.normal_(weight, generator=generator)
        with torch.no_grad():
            weight[m.padding_idx].fill_(0)

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


class _Plan:
    """What fills what, in module order."""

    def __init__(self, model: nn.Module, rules, include_buffers: bool):
        self.items: list[tuple[torch.Tensor | None, Fill]] = []
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
                self.items.append((tensor, fill))

        for prefix, module in model.named_modules():
            own = [(n, t) for n, t in module._parameters.items() if t is not None]
            if include_buffers:
                own += [(n, t) for n, t in module._buffers.items() if t is not None]
            if any(isinstance(t, _Uninitialized) for _, t in own):
                self.lazy += [_qualify(prefix, name) for name, _ in own]
                seen.update(id(t) for _, t in own)
                continue
            module_rules = _type_rules(module, by_type) if by_type else None
            if module_rules is None:
                module_rules = _builtin_rules(module)
            if module_rules is None and hasattr(module, "reset_parameters") and own:
                # A custom module: its own reset_parameters, under patched();
                # name rules still win (their fills run after the call).
                seen.update(id(t) for _, t in own)
                self.items.append((None, Fill("call", (_reset_with(module),))))
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
                    self.items.append((tensor, spec))
            for name, tensor in own:
                if id(tensor) in seen:
                    continue
                seen.add(id(tensor))
                qualified = _qualify(prefix, name)
                if any(fnmatch.fnmatchcase(qualified, p) for p in by_name):
                    add(tensor, None, lambda: qualified)
                else:
                    self.unhandled.append(f"{qualified} ({type(module).__name__})")

    def execute(self, generator: torch.Generator | None) -> None:
        # Seeds in module order: one draw per run of random fills between
        # two calls (which draw their own), n at once equalling n single
        # draws. Then one op call per (distribution, device).
        for tensor, fill in self.items:  # orthogonal_'s checks, before anything is written
            if fill.kind == "orthogonal":
                if tensor.dim() < 2:
                    raise ValueError("Only tensors with 2 or more dimensions are supported")
                require_floating("orthogonal_", tensor)
        random_items = []  # indices into self.items, in order
        seed_of: dict[int, int] = {}

        def draw_pending():
            pending = random_items[len(seed_of):]
            seed_of.update(zip(pending, draw_seeds(generator, len(pending))))

        for index, (tensor, fill) in enumerate(self.items):
            if fill.kind in RANDOM_KINDS:
                if not tensor.is_meta:
                    random_items.append(index)
            elif fill.kind == "orthogonal":
                if not tensor.is_meta and tensor.numel() > 0:  # as orthogonal_ skips them
                    random_items.append(index)
            elif fill.kind == "call":
                draw_pending()
                fill.params[0](tensor, generator)
        draw_pending()

        groups = defaultdict(list)
        for index in random_items:
            tensor, fill = self.items[index]
            gain = fill.params if fill.kind == "orthogonal" else None
            groups[(fill.kind, tensor.device, gain)].append(index)
        for (kind, _, gain), indices in groups.items():
            tensors, seeds = [self.items[i][0] for i in indices], [seed_of[i] for i in indices]
            if kind == "orthogonal":  # batched per shape (DTensors: see fill_through_full)
                fill_through_full(tensors, lambda full: fast_init._orthogonal_matrices(full, gain[0], seeds=seeds))
            else:
                fill_random(kind, tensors, seeds, [self.items[i][1].params for i in indices])
        with torch.no_grad():
            for tensor, fill in self.items:
                if fill.kind == "constant":
                    tensor.fill_(fill.params[0])


def _reset_with(module):
    def reset(_, generator):
        with patched(), using_generator(generator):
            module.reset_parameters()

    return reset


def reset_parameters(module: nn.Module, rules: dict | None = None, generator: torch.Generator | None = None) -> nn.Module:
    """Re-initialize every parameter of `module` (and BatchNorm running
    statistics) with the distributions of each module's own
    reset_parameters, batched; see the module docstring for `rules`.
    Parameters no rule covers keep their values (a warning lists them);
    uninitialized lazy parameters are skipped with a warning."""
    plan = _Plan(module, rules, include_buffers=False)
    if plan.lazy:
        warnings.warn(f"fastinit.reset_parameters: skipping uninitialized lazy parameters {plan.lazy}; "
                      "run a forward pass first", stacklevel=2)
    if plan.unhandled:
        warnings.warn(f"fastinit.reset_parameters: no rule for {plan.unhandled}; left unchanged "
                      "(give `rules` for them)", stacklevel=2)
    plan.execute(generator)
    return module


def _allocate(nbytes: int, device: torch.device) -> torch.Tensor:
    """One flat byte buffer; on the CPU 2 MiB-aligned and not yet touched (the
    fill faults it in on all threads).

    Transparent huge pages are advised only with FASTINIT_HUGE_PAGES=1: where
    the kernel compacts memory synchronously for madvised regions (THP
    `defrag` = madvise, the common default) faulting them in ran at
    0.9-1.3 GB/s on our test machine against 4.4-5.0 GB/s for 4 KiB pages.
    """
    if device.type == "cpu":
        return _C.empty_flat(nbytes, os.environ.get("FASTINIT_HUGE_PAGES", "0") == "1")
    return torch.empty(nbytes, dtype=torch.uint8, device=device)


def materialize(module: nn.Module, device=None, rules: dict | None = None, generator: torch.Generator | None = None) -> nn.Module:
    """Allocate a model built on the meta device and initialize it in one
    batched pass.

    All parameters and buffers become views into one flat allocation on
    `device` (default: CPU), 64-byte aligned and contiguous; tied tensors stay
    tied. The memory is first touched by the parallel fill itself
    (FASTINIT_HUGE_PAGES=1 also advises transparent huge pages; see
    _allocate). Every tensor must be covered by a rule (built-in, `rules`, or the
    module's own reset_parameters): buffers computed in a module's __init__
    cannot be recovered from the meta device, so an uncovered one is an error
    naming it, raised before anything is allocated.

    Sharded models (DTensor parameters, e.g. FSDP2's fully_shard applied on
    the meta device) are allocated with `module.to_empty(device=device)`
    instead, and each rank fills its shards with their slices of the values
    the unsharded model would get (fastinit.sharding).
    """
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
    dry_run = _Plan(module, rules, include_buffers=True)
    if dry_run.unhandled or dry_run.lazy:
        raise ValueError("fastinit.materialize: no rule fills " + ", ".join(dry_run.unhandled + dry_run.lazy)
                         + "; pass rules={name or module type: spec} for them")

    if any(map(is_dtensor, tensors.values())):
        # Sharded models (FSDP2 fully_shard, DTensor parallelism) keep their
        # own storage bookkeeping: allocate through Module.to_empty, which
        # FSDP2 hooks, and fill each local shard with its slice.
        module.to_empty(device=device)
        _Plan(module, rules, include_buffers=True).execute(generator)
        return module
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
    _Plan(module, rules, include_buffers=True).execute(generator)
    return module
