"""Per-tensor comparison of a model initialized by fastinit with stock
construction of the same model."""

import scipy.stats
import torch

from stats import P_MIN


def named_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer (non-persistent ones included) by name,
    detached copies."""
    tensors = dict(model.named_parameters(remove_duplicate=False))
    tensors.update(model.named_buffers(remove_duplicate=False))
    return {name: t.detach().clone() for name, t in tensors.items()}


def built_with_seed(build, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return named_tensors(build())


def assert_like_stock(build, ours: dict[str, torch.Tensor], label: str) -> None:
    """Deterministic tensors (equal in two stock builds with different
    seeds) equal stock's; random ones pass a two-sample KS test against
    stock's (those of 64 elements or more)."""
    first, second = built_with_seed(build, 1), built_with_seed(build, 2)
    assert ours.keys() == first.keys(), f"{label}: tensors {sorted(ours.keys() ^ first.keys())}"
    random_tensors = 0
    for key, reference in first.items():
        assert ours[key].shape == reference.shape and ours[key].dtype == reference.dtype, f"{label}: {key}"
        if not reference.is_floating_point() or torch.equal(reference, second[key]):
            assert torch.equal(ours[key], reference), f"{label}: {key} differs from stock's"
            continue
        if reference.numel() < 64:
            continue
        random_tensors += 1
        p = scipy.stats.ks_2samp(reference.double().flatten().numpy(), ours[key].double().flatten().numpy()).pvalue
        assert p > P_MIN, f"{label}: {key} p = {p:.3g} against stock construction"
    assert random_tensors > 0
