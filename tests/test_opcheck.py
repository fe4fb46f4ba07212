"""torch.library.opcheck for every op, and every public function under
torch.compile(fullgraph=True)."""

import pytest
import torch

import fastinit
import fastinit.init as fi
from conftest import assert_bitwise_equal
from fastinit._ops import ops
from initializers import INITIALIZERS


def _tensors(device="cpu"):
    return [
        torch.empty(8, 5, device=device),
        torch.empty(3, 4, 2, dtype=torch.bfloat16, device=device),
        torch.empty(6, 9, dtype=torch.float64, device=device).t(),
    ]


SAMPLES = {
    "uniform_": lambda d: (ops.uniform_, (_tensors(d), [1, 2, 3], [-1.0, 0.0, 5.0], [1.0, 0.5, 6.0])),
    "normal_": lambda d: (ops.normal_, (_tensors(d), [1, 2, 3], [0.0, 1.0, 2.0], [1.0, 0.5, 0.0])),
    "trunc_normal_": lambda d: (
        ops.trunc_normal_,
        (_tensors(d), [4, 5, 6], [0.0, 0.0, 1.0], [1.0, 1.0, 2.0], [-2.0, 4.0, -1.0], [2.0, 5.0, 0.0]),
    ),
    "sparse_": lambda d: (ops.sparse_, (torch.empty(20, 7, device=d), 9, 0.3, 0.01)),
    "mixture_": lambda d: (
        ops.mixture_,
        (_tensors(d), [1, 2, 3], [2, 1, 3], [0.5, 0.5, 1.0, 0.2, 0.3, 0.5], [1, 2, 0, 0, 3, 2],
         [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0,
          1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.5, 2.0, 0.0, 2.0, 0.0, 0.0]),
    ),
}


# The ops that draw their own seeds give other values on every run, so
# opcheck's comparison of eager and compiled results does not apply to them.
DRAWING_SAMPLES = {
    "uniform_from_generator_": lambda d: (ops.uniform_from_generator_, (_tensors(d), [-1.0, 0.0, 5.0], [1.0, 0.5, 6.0])),
    "normal_from_generator_": lambda d: (ops.normal_from_generator_, (_tensors(d), [0.0, 1.0, 2.0], [1.0, 0.5, 0.0])),
    "trunc_normal_from_generator_": lambda d: (
        ops.trunc_normal_from_generator_,
        (_tensors(d), [0.0, 0.0, 1.0], [1.0, 1.0, 2.0], [-2.0, 4.0, -1.0], [2.0, 5.0, 0.0]),
    ),
    "mixture_from_generator_": lambda d: (
        ops.mixture_from_generator_,
        (_tensors(d)[:1], [2], [0.5, 0.5], [1, 2], [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]),
    ),
    "sparse_from_generator_": lambda d: (ops.sparse_from_generator_, (torch.empty(20, 7, device=d), 0.3, 0.01)),
}


@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize("name", SAMPLES)
def test_opcheck(name, device):
    op, args = SAMPLES[name](device)
    torch.library.opcheck(op, args)


@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize("name", DRAWING_SAMPLES)
def test_opcheck_ops_drawing_seeds(name, device):
    op, args = DRAWING_SAMPLES[name](device)
    torch.library.opcheck(op, args, test_utils=("test_schema", "test_autograd_registration", "test_faketensor"))


@pytest.mark.parametrize("name", DRAWING_SAMPLES)
def test_ops_drawing_seeds_equal_the_seeded_ops(name):
    """x_from_generator_ draws one seed per tensor from the generator, in
    order, and meta tensors draw none."""
    op, args = DRAWING_SAMPLES[name]("cpu")
    seeded = getattr(ops, name.replace("_from_generator_", "_"))
    torch.manual_seed(7)
    op(*args)
    state = torch.get_rng_state()
    torch.manual_seed(7)
    tensors = args[0] if isinstance(args[0], list) else [args[0]]
    seeds = fastinit._ops.draw_seeds(None, len(tensors))
    expected = [torch.empty_like(t) for t in tensors]
    if name == "sparse_from_generator_":
        seeded(expected[0], seeds[0], *args[1:])
    else:
        seeded(expected, seeds, *args[1:])
    assert torch.equal(state, torch.get_rng_state())
    for got, want in zip(tensors, expected):
        assert_bitwise_equal(got, want)
    meta_op, meta_args = DRAWING_SAMPLES[name]("meta")
    meta_op(*meta_args)
    assert torch.equal(state, torch.get_rng_state())


def test_every_op_has_a_sample():
    registered = {
        name.split("::")[1].split(".")[0]
        for name in torch._C._dispatch_get_all_op_names()
        if name.startswith("fastinit::")
    }
    tensorless = {"cpu_kernels"}  # reports the instruction set; no tensors
    checked_elsewhere = {"orthogonal_from_"}  # tests/test_orthogonal.py
    assert registered == set(SAMPLES) | set(DRAWING_SAMPLES) | tensorless | checked_elsewhere


def test_every_seeded_op_that_writes_bumps_version_counters():
    """Note [the op registry] in csrc/ops.h: every op whose schema writes a
    tensor and takes its seeds as arguments has the ADInplaceOrView kernel
    that bumps version counters; the ops drawing their seeds have none
    (they write through the seeded ops). Read from the dispatcher."""
    names = [name for name in torch._C._dispatch_get_all_op_names() if name.startswith("fastinit::")]
    writing = [name for name in names
               if any(a.alias_info is not None and a.alias_info.is_write
                      for a in getattr(ops, name.split("::")[1]).default._schema.arguments)]
    assert len(writing) == 11, writing  # 6 seeded, 5 drawing
    for name in writing:
        has_kernel = torch._C._dispatch_has_kernel_for_dispatch_key(name, "ADInplaceOrView")
        assert has_kernel != name.endswith("_from_generator_"), name


def test_the_registrys_names_are_the_dispatchers_and_every_random_kind_is_wired():
    """_C.SEEDED_OPS and _C.DRAWING_OPS, expanded from csrc/ops.h's
    registry, name every op the dispatcher holds (but the tensorless
    cpu_kernels); each random kind read from them is a Kind, has an eager
    entry and fills through fastinit.fills."""
    from fastinit import _C, _ops, fills
    from fastinit.specs import Kind

    registered = {name.split("::")[1].split(".")[0] for name in torch._C._dispatch_get_all_op_names()
                  if name.startswith("fastinit::")}
    assert set(_C.SEEDED_OPS) | set(_C.DRAWING_OPS) | {"cpu_kernels"} == registered
    assert _ops.RANDOM_KINDS == {"uniform", "normal", "trunc_normal", "mixture"}
    for kind in _ops.RANDOM_KINDS:
        assert Kind(kind).value == kind and callable(getattr(_C, f"{kind}_"))
    for name in _C.SEEDED_OPS:  # Note [eager entries]: every tensor a seeded op takes, it writes
        arguments = getattr(ops, name).default._schema.arguments
        tensors = [a for a in arguments if "Tensor" in str(a.type)]
        assert tensors and all(a.alias_info is not None and a.alias_info.is_write for a in tensors), name
    tensor = torch.empty(1000)
    fills.fill_random("trunc_normal", [tensor], [5], [(0.0, 1.0, -0.5, 0.5)])
    assert tensor.abs().max() <= 0.5 and tensor.std() > 0


def test_under_torch_compile():
    def init(w, b):
        fi.kaiming_uniform_(w, a=5**0.5)
        fi.trunc_normal_(b, std=0.02)
        return w * 2, b + 1

    compiled = torch.compile(init, backend="aot_eager", fullgraph=False)
    torch.manual_seed(0)
    expected = init(torch.empty(16, 8), torch.empty(16))
    torch.manual_seed(0)
    actual = compiled(torch.empty(16, 8), torch.empty(16))
    for e, a in zip(expected, actual):
        assert torch.equal(e, a)


def test_op_with_fixed_seed_under_fullgraph_compile():
    def fill(w):
        ops.normal_([w], [123], [0.0], [1.0])
        return w + 0

    compiled = torch.compile(fill, backend="aot_eager", fullgraph=True)
    assert torch.equal(compiled(torch.empty(4, 6)), fill(torch.empty(4, 6)))


PUBLIC = dict(INITIALIZERS, batched_orthogonal_=lambda t, g: fastinit.batched_orthogonal_(t.view(2, -1, t.size(1))))


@pytest.mark.filterwarnings("ignore:Initializing zero-element")
@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_function_under_fullgraph_compile(name):
    """No graph break, and the compiled function draws its seeds when it runs:
    two compiled calls equal two eager calls after the same manual_seed, and
    leave the generator in the same state."""
    fn = PUBLIC[name]

    def init(w):
        fn(w, None)
        return w * 2

    torch._dynamo.reset()  # every case compiles the same code object afresh
    compiled = torch.compile(init, backend="aot_eager", fullgraph=True)
    results = {}
    for label, run in (("eager", init), ("compiled", compiled)):
        torch.manual_seed(0)
        first, second = run(torch.empty(16, 8)), run(torch.empty(16, 8))
        results[label] = (first, second, torch.get_rng_state())
    *compiled_values, compiled_state = results["compiled"]
    *eager_values, eager_state = results["eager"]
    for got, want in zip(compiled_values, eager_values):
        assert_bitwise_equal(got, want)
    assert torch.equal(compiled_state, eager_state)
