"""pytest-benchmark suite over the same cases as `python -m fastinit.bench`.

    pytest benchmarks --benchmark-json=run.json           # default set, CPU
    FASTINIT_BENCH_SET=full pytest benchmarks ...          # every case
    pytest-benchmark compare run1.json run2.json           # compare runs

Each case is benchmarked three ways (stock, fastinit, reference), grouped by
case so the report shows them side by side. On CUDA the callables are
followed by torch.cuda.synchronize().
"""

import os

import pytest
import torch

from fastinit.bench.cases import all_cases

DEVICE = os.environ.get("FASTINIT_BENCH_DEVICE", "cpu")
SET = os.environ.get("FASTINIT_BENCH_SET", "default")
CASES = [c for c in all_cases(DEVICE) if SET in c.groups]


def _synchronized(fn):
    if DEVICE != "cuda":
        return fn

    def run():
        fn()
        torch.cuda.synchronize()

    return run


@pytest.mark.parametrize("which", ["stock", "fastinit", "reference"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c.name}[{c.size}]" for c in CASES])
def test_case(benchmark, case, which):
    if DEVICE == "cuda" and not torch.cuda.is_available():
        pytest.skip("no GPU")
    stock_fn, fast_fn, reference_fn, nbytes = case.setup()
    fn = {"stock": stock_fn, "fastinit": fast_fn, "reference": reference_fn}[which]
    if fn is None:
        pytest.skip(f"{case.name} has no reference")
    benchmark.group = f"{case.name} [{case.size}]"
    benchmark.extra_info.update(bytes=nbytes, calls=case.calls)
    benchmark.pedantic(_synchronized(fn), rounds=5, warmup_rounds=1)
