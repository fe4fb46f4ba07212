"""torch.library.opcheck for every op, and the ops under torch.compile."""

import pytest
import torch

import fastinit.init as fi
from fastinit._ops import ops


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
         [0.0, 0.0, 3.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0, 1.0, 2.0],
         [0.0, 0.0, 0.0, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0, 2.0, 0.0]),
    ),
}


@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize("name", SAMPLES)
def test_opcheck(name, device):
    op, args = SAMPLES[name](device)
    torch.library.opcheck(op, args)


def test_every_op_has_a_sample():
    registered = {
        name.split("::")[1].split(".")[0]
        for name in torch._C._dispatch_get_all_op_names()
        if name.startswith("fastinit::")
    }
    tensorless = {"cpu_kernels"}  # reports the instruction set; no tensors
    checked_elsewhere = {"orthogonal_from_"}  # tests/test_orthogonal.py
    assert registered == set(SAMPLES) | tensorless | checked_elsewhere


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
