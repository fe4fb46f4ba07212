"""The portable, AVX2 and AVX-512 kernels give the same bits (each runs in a
fresh process selected with ATEN_CPU_CAPABILITY, as ATen's own kernels are)."""

import os
import subprocess
import sys

import pytest
import torch

from conftest import assert_bitwise_equal

SCRIPT = r"""
import sys, warnings
import torch
import fastinit
import fastinit.init as fi
warnings.simplefilter("ignore")
cases = {}
for dtype in (torch.float32, torch.bfloat16, torch.float16, torch.float64):
    def g():
        return torch.Generator().manual_seed(31)
    t = lambda: torch.empty(100_003, dtype=dtype)
    name = str(dtype).split(".")[1]
    cases[f"uniform-{name}"] = fi.uniform_(t(), -2.0, 3.0, generator=g())
    cases[f"normal-{name}"] = fi.normal_(t(), 1.0, 2.0, generator=g())
    cases[f"kaiming-{name}"] = fi.kaiming_normal_(torch.empty(301, 333, dtype=dtype).t(), generator=g())
    for a, b in ((-2.0, 2.0), (-0.3, 0.5), (3.0, 3.5), (-9.0, -8.0), (1.0, float("inf"))):
        cases[f"trunc[{a},{b}]-{name}"] = fi.trunc_normal_(t(), 0.0, 1.0, a, b, generator=g())
    cases[f"mixture-{name}"] = fastinit.mixture_(t(), [(0.3, fastinit.Normal(1, 2)), (0.2, fastinit.Constant(4)),
                                                     (0.5, fastinit.Uniform(-1, 0))], generator=g())
    cases[f"mixture-trunc-{name}"] = fastinit.mixture_(
        t(), [(0.5, fastinit.TruncNormal(0, 1, -1, 1)), (0.3, fastinit.TruncNormal(0, 1, 2, 2.5)),
              (0.2, fastinit.TruncNormal(0, 1, 1, 9))], generator=g())
cases["kernels"] = torch.ops.fastinit.cpu_kernels()
torch.save(cases, sys.argv[1])
"""

CAPABILITIES = {"default": "portable", "avx2": "avx2", "avx512": "avx512"}


def _run(capability, path):
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability)
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return torch.load(path)


def test_instruction_sets_agree_bit_for_bit(tmp_path):
    results = {cap: _run(cap, tmp_path / f"{cap}.pt") for cap in CAPABILITIES}
    available = {cap: r for cap, r in results.items() if r.pop("kernels") == CAPABILITIES[cap]}
    assert "default" in available, "the portable kernels must always be selectable"
    if len(available) == 1:
        pytest.skip("this CPU has neither AVX2 nor AVX-512")
    reference = available.pop("default")
    for cap, result in available.items():
        for name, expected in reference.items():
            assert_bitwise_equal(result[name], expected)
