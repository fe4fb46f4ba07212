"""The benchmark cases: stock torch.nn.init against fastinit, each with a
reference of the same bytes (fill_(1.0) for fills; allocate-and-zero for
builds), shared by `python -m fastinit.bench`
and the pytest-benchmark suite in benchmarks/."""

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.init as stock
from torch import nn

import fastinit
import fastinit.init as fast

from .models import allocate_and_zero, gpt2_like, library_available, materialize_rules, real_model

SIZES = {"small": (64, 64), "medium": (1024, 1024), "huge": (8192, 8192)}


@dataclass
class Case:
    """One comparison. `setup()` returns (stock, fastinit, reference)
    callables and the bytes one call writes; each callable runs the
    operation once (`calls` times for per-call cases). `reference` names
    what the reference callable does; None where no operation of the same
    bytes is a fair reference (the reference callable is then None too)."""

    name: str
    size: str
    setup: Callable
    calls: int = 1
    groups: tuple = field(default_factory=tuple)  # "default", "quick", "full"
    reference: str | None = "fill_(1.0)"


# The reference a fill is compared with: on the CPU fill_(1.0) of the same
# bytes (the write roofline: zero pages would write faster); on a GPU a
# device-to-device copy of the same bytes (it reads them too, so a fill can
# beat it).
REFERENCES = {"cpu": "fill_(1.0)", "cuda": "copy_ (device to device)"}


def tensor_case(name, size, dtype, device, stock_fn, fast_fn, groups):
    def setup():
        tensor = torch.empty(SIZES[size], dtype=dtype, device=device)
        calls = 200 if size == "small" else 1
        if device == "cuda":
            source = torch.ones_like(tensor)
            reference = lambda t: t.copy_(source)  # noqa: E731
        else:
            reference = lambda t: t.fill_(1.0)  # noqa: E731

        def repeat(fn):
            def run():
                for _ in range(calls):
                    fn(tensor)

            return run

        return repeat(stock_fn), repeat(fast_fn), repeat(reference), tensor.numel() * tensor.element_size() * calls

    return Case(f"{name}", size, setup, 200 if size == "small" else 1, groups, REFERENCES.get(device, "fill_(1.0)"))


INITIALIZERS = {
    "uniform_": (lambda t: stock.uniform_(t, -1, 1), lambda t: fast.uniform_(t, -1, 1)),
    "normal_": (lambda t: stock.normal_(t, 0, 0.02), lambda t: fast.normal_(t, 0, 0.02)),
    "trunc_normal_": (lambda t: stock.trunc_normal_(t, std=0.02), lambda t: fast.trunc_normal_(t, std=0.02)),
    "trunc_normal_(std=1)": (lambda t: stock.trunc_normal_(t), lambda t: fast.trunc_normal_(t)),
    "kaiming_uniform_": (lambda t: stock.kaiming_uniform_(t, a=math.sqrt(5)), lambda t: fast.kaiming_uniform_(t, a=math.sqrt(5))),
    "kaiming_normal_": (stock.kaiming_normal_, fast.kaiming_normal_),
    "xavier_uniform_": (stock.xavier_uniform_, fast.xavier_uniform_),
    "xavier_normal_": (stock.xavier_normal_, fast.xavier_normal_),
}


def _orthogonal_case(count, n, device, groups):
    """A loop of stock orthogonal_ against one batched_orthogonal_. No
    reference: a fill of the same bytes is no yardstick for O(n³) work."""

    def setup():
        stack = torch.empty(count, n, n, device=device)

        def stock_loop():
            for matrix in stack:
                stock.orthogonal_(matrix)

        return stock_loop, lambda: fastinit.batched_orthogonal_(stack), None, stack.numel() * 4

    return Case("orthogonal_ (batched)", f"{count} x {n}x{n}", setup, 1, groups, None)


D2L = fastinit.Mixture([(0.25, fastinit.Uniform(5, 10)), (0.5, fastinit.Constant(0.0)),
                        (0.25, fastinit.Uniform(-10, -5))])
TWO_NORMALS = fastinit.Mixture([(0.5, fastinit.Normal(-1.0, 0.5)), (0.5, fastinit.Normal(1.0, 0.5))])


def _d2l_stock(t):
    stock.uniform_(t, -10, 10)
    with torch.no_grad():
        t.mul_(t.abs() >= 5)


def _two_normals_stock(t):
    with torch.no_grad():
        mask = torch.rand(t.shape, device=t.device) < 0.5
        t.normal_(0, 0.5).add_(torch.where(mask, -1.0, 1.0))


def _many_linears_case(device, groups):
    def setup():
        model = nn.Sequential(*[nn.Linear(64, 64) for _ in range(1000)]).to(device)

        def stock_reset():
            for module in model:
                module.reset_parameters()

        nbytes = sum(p.numel() * 4 for p in model.parameters())
        return stock_reset, lambda: fastinit.reset_parameters(model), lambda: [p.detach().fill_(1.0) for p in model.parameters()], nbytes

    return Case("reset 1000 x Linear(64,64)", "2000 tensors", setup, 1, groups, "fill_(1.0) per tensor")


def _model_case(layers, width, label, groups):
    """Construction of a GPT-2-like stack: stock (eager) vs materialize."""

    def setup():
        nbytes = sum(p.numel() * 4 for p in gpt2_like(layers, width, device="meta").parameters())

        def floor():  # the allocate-and-zero floor for the same bytes
            allocate_and_zero(nbytes)

        return (lambda: gpt2_like(layers, width), lambda: fastinit.materialize(gpt2_like(layers, width, device="meta")),
                floor, nbytes)

    return Case(f"build GPT-2 {label} (materialize)", f"{layers}x{width}", setup, 1, groups, "allocate + zero_")


def _patched_model_case(layers, width, label, groups):
    def setup():
        nbytes = sum(p.numel() * 4 for p in gpt2_like(layers, width, device="meta").parameters())

        def patched_build():
            with fastinit.patched():
                gpt2_like(layers, width)

        return (lambda: gpt2_like(layers, width), patched_build, lambda: torch.zeros(nbytes // 4), nbytes)

    return Case(f"build GPT-2 {label} (patched)", f"{layers}x{width}", setup, 1, groups, "torch.zeros")


def _real_model_case(name: str, how: str, groups):
    """A real model shape (fastinit.bench.models.REAL_MODELS) built stock
    against `how`: "patched" (built under patched()), "patched, deferred"
    (under patched(defer_fills=True)) or "materialize" (built on meta under
    patched(), then materialize). The reference allocates and zeroes the
    same tensors the way the build does: one by one through torch's
    allocator for the patched builds (which, from round to round, hands
    back memory the process already faulted in), materialize's flat
    allocation (fresh pages every round) for materialize."""

    def setup():
        with fastinit.patched():
            meta = real_model(name, device="meta")
        unique = {id(t): t for t in list(meta.parameters()) + list(meta.buffers())}
        nbytes = sum(t.numel() * t.element_size() for t in unique.values())
        layouts = [(t.shape, t.dtype) for t in unique.values()]

        def ours():
            if how.startswith("patched"):
                # The model is kept past the block: deferred fills of a model nothing holds are never written.
                with fastinit.patched(defer_fills=how == "patched, deferred"):
                    model = real_model(name)
                return model
            with fastinit.patched():
                model = real_model(name, device="meta")
            return fastinit.materialize(model, rules=materialize_rules(name))

        def floor():
            if how == "materialize":
                return allocate_and_zero(nbytes)
            return [torch.zeros(shape, dtype=dtype) for shape, dtype in layouts]

        return lambda: real_model(name), ours, floor, nbytes

    reference = "allocate + zero_" if how == "materialize" else "torch.zeros per tensor"
    return Case(f"build {name} ({how})", "float32", setup, 1, groups, reference)


def all_cases(device: str = "cpu", dtype: torch.dtype = torch.float32) -> list[Case]:
    cases = []
    for name, (stock_fn, fast_fn) in INITIALIZERS.items():
        cases.append(tensor_case(name, "huge", dtype, device, stock_fn, fast_fn, ("default", "full")))
        cases.append(tensor_case(name, "medium", dtype, device, stock_fn, fast_fn, ("quick", "full")))
    cases.append(tensor_case("kaiming_uniform_ per call", "small", dtype, device, *INITIALIZERS["kaiming_uniform_"], ("default", "quick", "full")))
    cases.append(tensor_case("mixture_ (d2l recipe)", "huge", dtype, device, _d2l_stock,
                              lambda t: fastinit.mixture_(t, D2L), ("default", "full")))
    cases.append(tensor_case("mixture_ (2 normals)", "huge", dtype, device, _two_normals_stock,
                              lambda t: fastinit.mixture_(t, TWO_NORMALS), ("full",)))
    cases.append(_orthogonal_case(64, 256, device, ("default", "quick", "full")))
    cases.append(_orthogonal_case(8, 2048, device, ("full",)))
    cases.append(_orthogonal_case(1, 4096, device, ("full",)))
    cases.append(_many_linears_case(device, ("default", "quick", "full")))
    if device == "cpu":
        cases.append(_model_case(12, 768, "small", ("default", "full")))
        cases.append(_patched_model_case(12, 768, "small", ("default", "full")))
        cases.append(_model_case(48, 1600, "XL", ("full",)))
        cases.append(_patched_model_case(48, 1600, "XL", ("full",)))
        for name in ("bert-base", "vit_large_patch16_224"):
            if library_available(name):
                hows = ("patched", "patched, deferred", "materialize")
                cases += [_real_model_case(name, how, ("full",)) for how in hows]
    return cases
