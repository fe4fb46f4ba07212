"""Planning and running the fills of a whole model: which rule fills each
tensor (the order of precedence is in fastinit.model's docstring), cached per
model (Note [cached plans]), then one batched op call per distribution and
device."""

import fnmatch
import weakref
from collections import defaultdict
from typing import NamedTuple

import torch
from torch import nn

from ._ops import RANDOM_KINDS, draw_seeds, module_tree
from .fills import current_name_keys, fill_random, op_parameters
from .generators import using_generator
from .keyed import named_once
from .orthogonal import check_matrix, orthogonal_matrices
from .patching import patched
from .rules import builtin_rules
from .sharding import fill_through_full, is_dtensor
from .specs import KINDS, Fill, Kind, unknown_kind

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
# walk of module_tree (csrc/python/module_tree.cpp), and is cached per root module (weakly) with the
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


def planned(model: nn.Module, rules, include_buffers: bool, builtin: bool = True):
    """(plan, modules, tensors): the cached plan of `model` if still valid
    (Note [cached plans]), and the walk it refers to. Without `builtin`,
    only `rules` fill anything (no built-in rules, no reset_parameters, no
    tensor left unhandled)."""
    signature, modules, tensors = module_tree(model)
    key = (signature, include_buffers, _rules_key(rules), builtin)
    cached = _PLANS.get(model)
    if cached is not None and cached[0] == key:
        return cached[1], modules, tensors
    plan = Plan(model, rules, include_buffers, modules, tensors, builtin)
    _PLANS[model] = (key, plan)
    return plan, modules, tensors


class Plan:
    """What fills what, in module order: items (tensor position, Fill) into
    the walk of module_tree (csrc/python/module_tree.cpp); "reset_module" items name a module's
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
                if fill.kind not in KINDS:
                    raise unknown_kind(fill)
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
                module_rules = builtin_rules(module)
            if module_rules is None and builtin and hasattr(module, "reset_parameters") and own:
                # A custom module: its own reset_parameters, under patched();
                # name rules still win (their fills run after the call).
                seen.update(id(t) for _, t in own)
                items.append((module, Fill(Kind.RESET_MODULE, ())))
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
                add(tensor, spec, lambda: _qualify(prefix, path))
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
        # Each tensor's first qualified name, for name-keyed seeds (Note
        # [name-keyed seeds] in fastinit.keyed).
        first_names = {id(tensor): name for name, tensor in named_once(model)}
        self.names = [first_names.get(id(target)) for target, _ in items]
        self._schedule: Schedule | None = None

    def execute(self, modules: list, tensors: list, generator: torch.Generator | None) -> None:
        if self._schedule is None:
            self._schedule = Schedule(self.items, self.names, tensors)  # checks first: may raise
        self._schedule.run(modules, tensors, generator)


class Group(NamedTuple):
    """One op call of a schedule: the random fills of one kind on one device
    (and, for orthogonal_, one gain)."""

    kind: Kind
    gain: tuple | None  # orthogonal_'s (gain,), else None
    positions: list[int]  # the tensors' positions in the walk
    seed_orders: list[int]  # each tensor's index in the schedule's seeds
    params: list[tuple]  # each tensor's Fill params
    op_params: list[list] | None  # op_parameters of params; None for sharded or orthogonal groups


class Schedule:
    """A plan's op calls for the tensors it was made for.

    Seeds in module order: one draw per run of random fills between two
    calls (which draw their own), n at once equalling n single draws; in a
    keyed block, each tensor's seed from its name instead. Then
    one op call per (distribution, device), and the constants."""

    def __init__(self, items: list, names: list, tensors: list):
        for index, fill in items:  # orthogonal_'s checks, before anything is written
            if fill.kind == Kind.ORTHOGONAL:
                check_matrix("orthogonal_", tensors[index])
        self.calls: list[tuple[int, int, Fill]] = []  # (seeds to draw before, position, fill)
        random = []  # (position, fill), in order
        self.random_names = []  # their qualified names (None: found by memory when keyed)
        drawn = 0  # seeds drawn before the last call
        for (index, fill), name in zip(items, names):
            if fill.kind in RANDOM_KINDS or fill.kind == Kind.ORTHOGONAL:
                tensor = tensors[index]
                if not tensor.is_meta and (fill.kind != Kind.ORTHOGONAL or tensor.numel() > 0):
                    random.append((index, fill))  # as the single-tensor functions skip them
                    self.random_names.append(name)
            elif fill.kind in (Kind.CALL, Kind.RESET_MODULE):
                self.calls.append((len(random) - drawn, index, fill))
                drawn = len(random)
        self.last_draw = len(random) - drawn
        self.random_positions = [index for index, _ in random]  # in seed order
        groups = defaultdict(list)
        for order, (index, fill) in enumerate(random):
            gain = fill.params if fill.kind == Kind.ORTHOGONAL else None
            groups[(fill.kind, tensors[index].device, gain)].append((order, index, fill.params))
        self.groups: list[Group] = []
        for (kind, _, gain), members in groups.items():
            orders, positions, params = (list(column) for column in zip(*members))
            sharded = any(is_dtensor(tensors[i]) for i in positions)
            op_params = None if sharded or kind == Kind.ORTHOGONAL else op_parameters(kind, params)
            self.groups.append(Group(kind, gain, positions, orders, params, op_params))
        self.constants = [(index, fill.params[0]) for index, fill in items if fill.kind == Kind.CONSTANT]

    def run(self, modules: list, tensors: list, generator) -> None:
        seeds: list[int] = []
        keys = current_name_keys()

        def take(count):  # the next `count` random tensors' seeds
            start, stop = len(seeds), len(seeds) + count
            if keys is None:
                seeds.extend(draw_seeds(generator, count))
                return
            named = zip(self.random_names[start:stop], self.random_positions[start:stop])
            seeds.extend(keys.seeds_of_keys([keys.key_of(tensors[i]) if name is None else keys.qualified(name)
                                             for name, i in named]))  # Note [name-keyed seeds] in fastinit.keyed

        for count, index, fill in self.calls:
            take(count)
            if fill.kind == Kind.RESET_MODULE:
                with patched(), using_generator(generator):
                    modules[index].reset_parameters()
            else:
                fill.params[0](tensors[index], generator)
        take(self.last_draw)
        for g in self.groups:
            group, group_seeds = [tensors[i] for i in g.positions], [seeds[k] for k in g.seed_orders]
            if g.kind == Kind.ORTHOGONAL:  # batched per shape (DTensors: see fill_through_full)
                fill_through_full(group, lambda full: orthogonal_matrices(full, g.gain[0], seeds=group_seeds))
            else:  # DTensors (no op_params ahead): each local shard its slice
                fill_random(g.kind, group, group_seeds, g.params, g.op_params)
        with torch.no_grad():
            for index, value in self.constants:
                tensors[index].fill_(value)
