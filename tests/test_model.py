"""Whole models: patched(), reset_parameters() and materialize()."""

import contextlib
import math
import sys
import threading
import types

import pytest
import scipy.stats
import torch
import torch.nn.init as stock
from torch import nn

import fastinit
import fastinit.init as fi
from conftest import assert_bitwise_equal
from dispatch_log import OpLog, random_ops_while_building
from fastinit.generators import using_generator
from stats import assert_fits

# Captured unpatched; a mapping proxy, not a dict, so that patch() (which
# also rewrites small dicts holding torch's initializers) leaves it alone.
ORIGINAL = types.MappingProxyType({n: getattr(stock, n) for n in stock.__all__})
TORCH_FUNCTIONS = {id(f): n for n, f in ORIGINAL.items()}


def _holders():
    """(namespace id, key) of every place outside fastinit holding one of
    torch's initializers."""
    found = set()
    for name, module in list(sys.modules.items()):
        if module is None or name.startswith("fastinit"):
            continue
        try:
            namespace = vars(module)
        except TypeError:
            continue
        for table in [namespace] + [v for v in list(namespace.values()) if type(v) is dict and len(v) <= 256]:
            for key, value in list(table.items()):
                if id(value) in TORCH_FUNCTIONS:
                    found.add((id(table), key))
    return found


def test_patch_swaps_every_holder_and_restores_them():
    before = _holders()
    assert (id(vars(torch.nn.modules.activation)), "xavier_uniform_") in before
    with fastinit.patched():
        assert _holders() == set(), "a module still holds a torch initializer"
        assert torch.nn.init.kaiming_uniform_ is not ORIGINAL["kaiming_uniform_"]
        with fastinit.patched():  # nests
            assert fastinit.is_patched()
        assert fastinit.is_patched()
    assert not fastinit.is_patched()
    assert _holders() == before
    assert torch.nn.init.normal_ is ORIGINAL["normal_"]


def test_restored_after_an_exception():
    before = _holders()
    with pytest.raises(KeyError):
        with fastinit.patched():
            raise KeyError("boom")
    assert _holders() == before and not fastinit.is_patched()


def _fail_after_some_holders(find_holders):
    def failing(*args):
        for found, holder in enumerate(find_holders(*args)):
            if found == 5:
                raise MemoryError("injected mid-swap")
            yield holder

    return failing


class _ProtocolOwner:
    def init_weights(self):
        pass


_UNWRAPPED = _ProtocolOwner.__dict__["init_weights"]


def _fail_in_protocols(wrapped):
    wrapped.append((_ProtocolOwner, "init_weights", _UNWRAPPED))  # one wrapped, then a failure
    _ProtocolOwner.init_weights = lambda self: None
    raise MemoryError("injected mid-swap")


@pytest.mark.parametrize("inject", ["holders", "protocols"])
def test_a_failure_mid_swap_leaves_nothing_patched(inject, monkeypatch):
    """patch() is all or nothing: a failure while swapping (midway through
    the holders, or after them, wrapping the model protocols) puts back
    what was swapped and leaves this thread's random fills torch's."""
    import fastinit.patching as patching

    before = _holders()
    if inject == "holders":
        monkeypatch.setattr(patching, "find_holders", _fail_after_some_holders(patching.find_holders))
    else:
        monkeypatch.setattr(patching, "wrap_protocols", _fail_in_protocols)
    with pytest.raises(MemoryError, match="injected mid-swap"):
        with fastinit.patched():
            pytest.fail("the block ran although patching failed")
    monkeypatch.undo()
    assert _holders() == before and not fastinit.is_patched()
    assert torch.nn.init.normal_ is ORIGINAL["normal_"]
    assert getattr(patching._thread, "depth", 0) == 0, "the thread's random-fill mode is still entered"
    assert _ProtocolOwner.__dict__["init_weights"] is _UNWRAPPED
    with fastinit.patched():  # and the next patch works
        assert _holders() == set()
    assert _holders() == before


def test_module_imported_while_patched_is_restored():
    module = types.ModuleType("late_import_fixture")
    sys.modules["late_import_fixture"] = module
    try:
        with fastinit.patched():
            module.init_fn = torch.nn.init.xavier_uniform_  # "from torch.nn.init import ..."
            module.ours = fi.xavier_uniform_
            assert module.init_fn is not ORIGINAL["xavier_uniform_"]
        assert module.init_fn is ORIGINAL["xavier_uniform_"]
        assert module.ours is fi.xavier_uniform_, "fastinit's own functions are left alone"
    finally:
        del sys.modules["late_import_fixture"]


def test_names_rebound_between_searches_are_found():
    """The holder search remembers what each dict held (Note [finding
    holders]); a name rebound in place, with no name added, must still be
    found by the next patch() and unpatch()."""
    module = types.ModuleType("rebinding_fixture")
    module.init_fn = module.late_fn = None
    module.table = {"late_fn": None}
    sys.modules["rebinding_fixture"] = module
    try:
        for _ in range(2):  # the second round finds the namespace remembered
            with fastinit.patched():
                pass
            module.init_fn = ORIGINAL["normal_"]
            with fastinit.patched():
                assert module.init_fn is not ORIGINAL["normal_"]
                module.late_fn = module.table["late_fn"] = torch.nn.init.xavier_uniform_  # a stand-in
            assert module.init_fn is ORIGINAL["normal_"]
            assert module.late_fn is ORIGINAL["xavier_uniform_"] and module.table["late_fn"] is module.late_fn
            module.init_fn = module.late_fn = module.table["late_fn"] = None
    finally:
        del sys.modules["rebinding_fixture"]


def test_a_namespace_held_by_another_module_has_its_tables_searched():
    """Each dict is read once per search; a module's namespace first met as
    another module's small dict must still have its own small dicts read."""
    holder, held = types.ModuleType("namespace_holder_fixture"), types.ModuleType("held_namespace_fixture")
    held.table = {"init_fn": ORIGINAL["normal_"]}
    holder.namespace = vars(held)
    sys.modules["namespace_holder_fixture"], sys.modules["held_namespace_fixture"] = holder, held  # holder first
    try:
        with fastinit.patched():
            assert held.table["init_fn"] is not ORIGINAL["normal_"]
        assert held.table["init_fn"] is ORIGINAL["normal_"]
    finally:
        del sys.modules["namespace_holder_fixture"], sys.modules["held_namespace_fixture"]


def test_unpatch_without_patch_raises():
    with pytest.raises(RuntimeError, match="without a matching patch"):
        fastinit.unpatch()


def test_patched_from_threads():
    errors = []

    def build():
        try:
            for _ in range(20):
                with fastinit.patched():
                    nn.Linear(8, 8)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and not fastinit.is_patched()
    assert torch.nn.init.uniform_ is ORIGINAL["uniform_"]


@pytest.mark.filterwarnings("ignore:enable_nested_tensor")
def test_transformer_builds_without_stock_random_ops():
    stock_random, ours, _ = random_ops_while_building(lambda: nn.Transformer(64, 4, 2, 2, 128))
    assert stock_random == [] and ours


def test_torchvision_resnet_builds_without_stock_random_ops():
    models = pytest.importorskip("torchvision.models")
    stock_random, ours, _ = random_ops_while_building(lambda: models.resnet50())
    assert stock_random == [] and ours


def test_transformers_gpt2_builds_without_stock_random_ops():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, n_positions=64)
    stock_random, ours, _ = random_ops_while_building(lambda: transformers.GPT2LMHeadModel(config))
    assert stock_random == [] and ours


def _zoo():
    return nn.Sequential(
        nn.Linear(40, 30), nn.Conv2d(3, 8, 3), nn.ConvTranspose1d(4, 6, 3), nn.Embedding(50, 12, padding_idx=3),
        nn.LayerNorm(30), nn.BatchNorm2d(8), nn.GroupNorm(2, 8), nn.LSTM(12, 16, num_layers=2), nn.GRUCell(5, 7),
        nn.Bilinear(5, 6, 7), nn.PReLU(4, init=0.3), nn.RMSNorm(9), nn.Linear(30, 10, bias=False),
    )


@pytest.mark.parametrize("seeds", ["in_order", "by_name"])
def test_batched_equals_module_by_module(seeds):
    """In order: one seed per tensor in module order, as the single calls
    draw them; by name: each module's own reset_parameters in a keyed block
    gets the batched plan's values."""
    model = _zoo()
    fastinit.reset_parameters(model, generator=torch.Generator().manual_seed(7), seeds=seeds)
    reference = _zoo()
    generator = torch.Generator().manual_seed(7)
    keyed = fastinit.keyed_by_name(reference, generator) if seeds == "by_name" else contextlib.nullcontext()
    with keyed, fastinit.patched(), using_generator(generator):
        for module in reversed(list(reference.modules())) if seeds == "by_name" else reference.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    for (name, a), (_, b) in zip(model.state_dict().items(), reference.state_dict().items()):
        assert_bitwise_equal(a.float(), b.float()) if a.is_floating_point() else torch.equal(a, b)


def test_module_distributions():
    torch.manual_seed(0)
    linear, conv, emb, lstm = nn.Linear(512, 400), nn.Conv2d(64, 128, 3), nn.Embedding(4000, 64), nn.LSTM(64, 256)
    mha, norm = nn.MultiheadAttention(256, 8), nn.BatchNorm1d(16)
    for m in (linear, conv, emb, lstm, mha, norm):
        with torch.no_grad():
            for p in m.parameters():
                p.fill_(float("nan"))
        fastinit.reset_parameters(m)
    assert_fits(linear.weight.detach(), scipy.stats.uniform(-1 / math.sqrt(512), 2 / math.sqrt(512)))
    b = 1 / math.sqrt(512)
    assert linear.bias.abs().max() <= b
    bound = 1 / math.sqrt(64 * 9)
    assert_fits(conv.weight.detach(), scipy.stats.uniform(-bound, 2 * bound))
    assert_fits(emb.weight.detach(), scipy.stats.norm())
    s = 1 / math.sqrt(256)
    assert_fits(lstm.weight_ih_l0.detach(), scipy.stats.uniform(-s, 2 * s))
    x = math.sqrt(6 / (256 + 3 * 256))
    assert_fits(mha.in_proj_weight.detach(), scipy.stats.uniform(-x, 2 * x))
    assert torch.all(mha.in_proj_bias == 0) and torch.all(mha.out_proj.bias == 0)
    assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor")
def test_transformer_uses_xavier_for_matrices():
    model = nn.Transformer(64, 4, 1, 1, 256)
    fastinit.reset_parameters(model)
    w = model.encoder.layers[0].linear1.weight.detach()
    bound = math.sqrt(6 / (64 + 256))
    assert w.abs().max() <= bound and w.abs().max() > 0.95 * bound


def test_rules_by_name_and_type():
    model = nn.Sequential(nn.Linear(8, 8), nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8)), nn.LayerNorm(8))
    fastinit.reset_parameters(model, rules={
        "1.*.weight": fastinit.Constant(42.0),
        nn.LayerNorm: {"weight": fastinit.Constant(3.0), "bias": fastinit.Constant(-1.0)},
        "0.bias": fastinit.Normal(5.0, 0.0),
    })
    assert torch.all(model[1][0].weight == 42) and torch.all(model[1][1].weight == 42)
    assert torch.all(model[2].weight == 3) and torch.all(model[2].bias == -1)
    assert torch.all(model[0].bias == 5)
    assert model[0].weight.abs().max() <= 1 / math.sqrt(8)


def test_lazy_parameters_are_skipped_with_a_warning():
    model = nn.Sequential(nn.LazyLinear(4), nn.Linear(4, 4))
    with pytest.warns(UserWarning, match="uninitialized lazy parameters"):
        fastinit.reset_parameters(model)


class _Rotary(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)))
        self.proj = nn.Linear(dim, dim)


class _TiedLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.blocks = nn.Sequential(nn.Linear(16, 16), nn.LayerNorm(16), nn.BatchNorm1d(16))
        self.head = nn.Linear(16, 100, bias=False)
        self.head.weight = self.embed.weight


def test_materialize_matches_reset_parameters_and_keeps_ties():
    with torch.device("meta"):
        lazy = _TiedLM()
    fastinit.materialize(lazy, generator=torch.Generator().manual_seed(3))
    eager = _TiedLM()
    fastinit.reset_parameters(eager, generator=torch.Generator().manual_seed(3))
    assert lazy.head.weight is lazy.embed.weight
    for (name, a), (_, b) in zip(lazy.state_dict().items(), eager.state_dict().items()):
        assert a.device.type == "cpu" and torch.equal(a, b), name
    storages = {p.untyped_storage().data_ptr() for p in lazy.parameters()}
    assert len(storages) == 1, "one flat allocation"
    assert all(p.data_ptr() % 64 == 0 for p in lazy.parameters())
    assert torch.all(lazy.blocks[2].running_var == 1) and lazy.blocks[2].num_batches_tracked == 0
    optimizer = torch.optim.AdamW(lazy.parameters())
    loss = lazy.head(lazy.blocks[0](lazy.embed(torch.tensor([1, 2])))).sum()
    loss.backward()
    optimizer.step()


@pytest.mark.parametrize("variable", ["FASTINIT_POPULATE", "FASTINIT_HUGE_PAGES"])
def test_materialize_gives_the_same_bits_however_its_pages_come(variable, monkeypatch):
    def build():
        with torch.device("meta"):
            model = _TiedLM()
        return fastinit.materialize(model, generator=torch.Generator().manual_seed(5))

    faulted_in = build()
    monkeypatch.setenv(variable, "1")
    advised = build()
    for (name, a), (_, b) in zip(faulted_in.state_dict().items(), advised.state_dict().items()):
        assert torch.equal(a, b), name
    from fastinit.allocation import allocate

    flat = allocate(3 * 2**20 + 5, torch.device("cpu"))  # not a whole number of pages
    assert flat.numel() == 3 * 2**20 + 5 and flat.data_ptr() % 64 == 0 and not flat.any()


def test_flat_allocation_off_the_cpu_is_zeroed():
    """Off the CPU, materialize's flat allocation is zeroed, so memory a
    protocol leaves unwritten reads as zeros there too (a GPU's caching
    allocator hands back memory other tensors wrote). Meta takes the same
    branch; the dispatcher shows the zeroing."""
    from fastinit.allocation import allocate

    with OpLog() as log:
        flat = allocate(4096, torch.device("meta"))
    assert flat.shape == (4096,) and flat.dtype == torch.uint8
    assert "aten::zero_" in log.names or "aten::zeros" in log.names, log.names


def test_materialize_refuses_buffers_it_cannot_recompute():
    with torch.device("meta"):
        model = _Rotary(8)
    with pytest.raises(ValueError, match=r"inv_freq \(_Rotary\)"):
        fastinit.materialize(model)
    assert model.inv_freq.is_meta, "nothing allocated on refusal"
    inv_freq = lambda t, g: t.copy_(1.0 / (10000 ** (torch.arange(0, 8, 2).float() / 8)))  # noqa: E731
    fastinit.materialize(model, rules={"inv_freq": fastinit.Call(inv_freq)})
    assert torch.allclose(model.inv_freq, _Rotary(8).inv_freq)


def test_materialize_needs_meta():
    with pytest.raises(ValueError, match="meta device"):
        fastinit.materialize(nn.Linear(2, 2))


class _Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.empty(4))
        self.shift = nn.Parameter(torch.empty(4))
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.ones_(self.scale)
        nn.init.normal_(self.shift)


def test_custom_modules_use_their_reset_parameters_and_name_rules_win():
    model = nn.Sequential(_Custom(), nn.Linear(4, 4))
    with torch.no_grad():
        model[0].scale.fill_(5.0)
    fastinit.reset_parameters(model, rules={"0.shift": fastinit.Constant(-2.0)})
    assert torch.all(model[0].scale == 1.0)
    assert torch.all(model[0].shift == -2.0)


def _state(model):
    return {name: t.detach().clone() for name, t in model.state_dict().items()}


def test_cached_plan_gives_the_values_of_a_fresh_plan():
    """Note [cached plans]: the second reset of a model reuses its plan and
    gets the values a fresh plan (a new model object) gets."""
    model = _zoo()
    fastinit.reset_parameters(model, generator=torch.Generator().manual_seed(1))
    assert model in fastinit.planning._PLANS
    fastinit.reset_parameters(model, generator=torch.Generator().manual_seed(2))
    fastinit.planning._PLANS.clear()
    again = _state(fastinit.reset_parameters(model, generator=torch.Generator().manual_seed(2)))
    fastinit.planning._PLANS.clear()
    fastinit.reset_parameters(model, generator=torch.Generator().manual_seed(2))
    for name, value in _state(model).items():
        assert_bitwise_equal(value, again[name])


def _changes():
    def replace_module(m):
        m[0] = nn.Linear(8, 3)

    def swap_data(m):
        m[0].weight.data = torch.zeros(4, 6)  # another fan-in: another bound

    def add_module(m):
        m.append(nn.Linear(4, 4))

    def retype(m):
        m[0].double()

    def drop_bias(m):
        m[0].bias = None

    return [replace_module, swap_data, add_module, retype, drop_bias]


@pytest.mark.parametrize("change", _changes(), ids=lambda f: f.__name__)
def test_cached_plan_follows_changes_of_the_model(change):
    model = nn.Sequential(nn.Linear(8, 4), nn.LayerNorm(4))
    fastinit.reset_parameters(model)
    change(model)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    fastinit.reset_parameters(model, generator=torch.Generator().manual_seed(3))
    got = _state(model)
    fastinit.planning._PLANS.clear()
    fastinit.reset_parameters(model, generator=torch.Generator().manual_seed(3))
    for name, value in _state(model).items():
        assert not value.isnan().any(), name
        assert_bitwise_equal(got[name], value)


def test_cached_plan_follows_the_rules():
    model = nn.Sequential(nn.Linear(8, 4))
    fastinit.reset_parameters(model, rules={"0.weight": fastinit.Constant(1.0)})
    assert torch.all(model[0].weight == 1)
    fastinit.reset_parameters(model, rules={"0.weight": fastinit.Constant(2.0)})
    assert torch.all(model[0].weight == 2)
    rules = {nn.Linear: {"weight": fastinit.Constant(3.0)}}  # the bias is left alone, with a warning
    with pytest.warns(UserWarning, match=r"no rule for \['0.bias \(Linear\)'\]"):
        fastinit.reset_parameters(model, rules=rules)
    rules[nn.Linear]["weight"] = fastinit.Constant(4.0)  # mutated in place
    with pytest.warns(UserWarning, match="no rule for"):
        fastinit.reset_parameters(model, rules=rules)
    assert torch.all(model[0].weight == 4)


def test_the_plan_cache_keeps_no_model_alive():
    import gc
    import weakref

    model = nn.Sequential(nn.Linear(8, 4), nn.Embedding(10, 4, padding_idx=0), nn.BatchNorm1d(4))
    fastinit.reset_parameters(model)
    alive = weakref.ref(model)
    weight = weakref.ref(model[1].weight)
    del model
    gc.collect()
    assert alive() is None and weight() is None


def test_reset_parameters_writes_like_in_place_ops():
    """The batched fills behave as torch's in-place ops under no_grad: every
    written parameter's version goes up (so autograd refuses a backward
    through a value it saved before), no autograd history is recorded, and
    dispatch modes see fastinit's ops."""
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8))
    rules = {"0.weight": fastinit.Mixture([(0.5, fastinit.Normal(0, 1)), (0.5, fastinit.Constant(0.0))]),
             "1.weight": fastinit.TruncNormal(std=0.02)}
    params = list(model.parameters())
    loss = model(torch.randn(4, 8)).square().sum()
    before = [p._version for p in params]
    with OpLog() as log:
        fastinit.reset_parameters(model, rules=rules)
    assert all(p._version > v for p, v in zip(params, before))
    assert all(p.is_leaf and p.grad_fn is None and p.requires_grad for p in params)
    assert {"fastinit::uniform_", "fastinit::mixture_", "fastinit::trunc_normal_"} <= set(log.names)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_fills_are_typed_and_unknown_kinds_refused():
    """A kind's name works as the Kind; an unknown kind is refused by a
    plan when it is made and by a spec when it is called, and a plan-only
    kind by a spec, each leaving the tensor alone."""
    from fastinit.specs import Fill, Init, Kind

    class Resolving(Init):
        def __init__(self, kind):
            self.kind = kind

        def resolve(self, tensor):
            return Fill(self.kind, (0.0, 1.0))

    tensor = torch.zeros(3)
    Resolving("uniform")(tensor)
    assert (tensor != 0).all()
    tensor = torch.zeros(3)
    with pytest.raises(ValueError, match="a Fill of unknown kind 'bogus'; expected one of uniform, normal"):
        Resolving("bogus")(tensor)
    with pytest.raises(ValueError, match="a Fill of kind reset_module, which only a plan runs"):
        Resolving(Kind.RESET_MODULE)(tensor)
    assert torch.equal(tensor, torch.zeros(3))
    model = nn.Linear(3, 2)
    before = model.weight.detach().clone()
    with pytest.raises(ValueError, match="a Fill of unknown kind 'bogus'"):
        fastinit.reset_parameters(model, rules={nn.Linear: Resolving("bogus")})
    assert torch.equal(model.weight.detach(), before)


def test_builtin_rules_are_specs_and_schedules_name_their_groups():
    from fastinit.planning import Group, planned
    from fastinit.rules import builtin_rules
    from fastinit.specs import Init, Kind

    model = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3), nn.Embedding(5, 3, padding_idx=0), nn.Conv2d(2, 2, 3),
                          nn.BatchNorm1d(3), nn.MultiheadAttention(4, 2), nn.LSTM(3, 3))
    for module in model:
        assert all(isinstance(spec, Init) for spec in builtin_rules(module).values()), type(module).__name__
    plan, modules, walk = planned(model, None, include_buffers=True)
    plan.execute(modules, walk, None)
    groups = plan._schedule.groups
    assert groups and all(isinstance(g, Group) for g in groups)
    uniform = next(g for g in groups if g.kind is Kind.UNIFORM)
    assert len(uniform.positions) == len(uniform.seed_orders) == len(uniform.params)
