"""torch.use_deterministic_algorithms(True) works with every initializer and
changes no value (fastinit's results are deterministic by construction)."""

import pytest
import torch

import fastinit
from conftest import assert_bitwise_equal
from initializers import INITIALIZERS

CALLS = dict(
    INITIALIZERS,
    batched_orthogonal_=lambda t, g: fastinit.batched_orthogonal_(t.view(2, -1, t.size(1)), generator=g),
    reset_parameters=lambda t, g: fastinit.reset_parameters(torch.nn.Linear(t.size(1), t.size(0), device=t.device),
                                                            generator=g),
    materialize=lambda t, g: fastinit.materialize(torch.nn.Linear(t.size(1), t.size(0), device="meta"), t.device,
                                                  generator=g),
)


def _run(name, deterministic, device="cpu"):
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(deterministic)
    try:
        tensor = torch.empty(64, 48, device=device)
        out = CALLS[name](tensor, torch.Generator().manual_seed(3))
    finally:
        torch.use_deterministic_algorithms(previous)
    if isinstance(out, torch.nn.Module):
        return torch.cat([p.detach().flatten() for p in out.parameters()])
    return tensor


GPU = pytest.mark.skipif(not (fastinit._C.BUILT_WITH_CUDA and torch.cuda.is_available()), reason="needs a GPU")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=GPU)])
@pytest.mark.parametrize("name", CALLS)
def test_deterministic_mode(name, device):
    assert_bitwise_equal(_run(name, True, device), _run(name, False, device))
