"""batched_orthogonal_: batched equals the loop of orthogonal_, orthogonality
for every shape and batch, low precision, errors."""

import pytest
import torch

import fastinit
import fastinit.init as fi
from conftest import assert_bitwise_equal


def _orthogonality_error(w: torch.Tensor, gain: float = 1.0) -> float:
    flat = w.reshape(w.shape[0], -1).double() / gain
    if flat.shape[0] > flat.shape[1]:
        flat = flat.t()
    return (flat @ flat.t() - torch.eye(flat.shape[0], dtype=torch.float64)).abs().max().item()


@pytest.mark.parametrize("matrix_shape", [(16, 16), (24, 10), (10, 24), (6, 4, 3, 3)])
@pytest.mark.parametrize("batch_shape", [(5,), (2, 3)])
def test_stacked_equals_loop(matrix_shape, batch_shape):
    stacked = torch.empty(batch_shape + matrix_shape)
    fastinit.batched_orthogonal_(stacked, gain=1.5, batch_dims=len(batch_shape), generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    flat = stacked.reshape(-1, *matrix_shape)
    for matrix in flat:
        single = fi.orthogonal_(torch.empty(matrix_shape), gain=1.5, generator=g)
        assert_bitwise_equal(matrix, single)
        assert _orthogonality_error(matrix, 1.5) < 1e-5


def test_list_of_mixed_shapes_equals_loop():
    shapes = [(8, 8), (4, 12), (8, 8), (12, 4), (3, 5, 2)]
    batch = [torch.empty(s, dtype=torch.float64) for s in shapes]
    fastinit.batched_orthogonal_(batch, generator=torch.Generator().manual_seed(11))
    g = torch.Generator().manual_seed(11)
    for tensor, shape in zip(batch, shapes):
        assert_bitwise_equal(tensor, fi.orthogonal_(torch.empty(shape, dtype=torch.float64), generator=g))
        assert _orthogonality_error(tensor) < 1e-12


def test_expert_stack_gets_one_orthogonal_matrix_per_expert():
    experts = torch.empty(4, 32, 16)
    fastinit.batched_orthogonal_(experts)
    for e in experts:
        assert _orthogonality_error(e) < 1e-5
    assert not torch.allclose(experts[0], experts[1])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision(dtype):
    w = torch.empty(3, 48, 32, dtype=dtype)
    fastinit.batched_orthogonal_(w, generator=torch.Generator().manual_seed(1))
    reference = torch.empty(3, 48, 32)
    fastinit.batched_orthogonal_(reference, generator=torch.Generator().manual_seed(1))
    assert_bitwise_equal(w, reference.to(dtype))


def test_non_contiguous_destinations():
    base = torch.zeros(4, 20, 30)
    view = base[:, :, ::2]  # 4 x (20 x 15), strided
    fastinit.batched_orthogonal_(view, generator=torch.Generator().manual_seed(2))
    expected = torch.empty(4, 20, 15)
    fastinit.batched_orthogonal_(expected, generator=torch.Generator().manual_seed(2))
    assert_bitwise_equal(view, expected)
    assert torch.all(base[:, :, 1::2] == 0)


def test_errors():
    with pytest.raises(ValueError, match="2 or more dimensions"):
        fastinit.batched_orthogonal_([torch.empty(3, 3), torch.empty(4)])
    with pytest.raises(ValueError, match="batch_dims"):
        fastinit.batched_orthogonal_(torch.empty(5, 4), batch_dims=1)
    with pytest.raises(NotImplementedError, match="unsupported dtype"):
        fastinit.batched_orthogonal_([torch.zeros(3, 3, dtype=torch.int32)])


def test_empty_and_meta_are_no_ops():
    assert fastinit.batched_orthogonal_(torch.empty(0, 3, 3)).shape == (0, 3, 3)
    meta = torch.empty(2, 3, 3, device="meta")
    state = torch.get_rng_state()
    fastinit.batched_orthogonal_(meta)
    assert torch.equal(state, torch.get_rng_state())


def test_opcheck():
    destinations = [torch.empty(6, 4), torch.empty(6, 2, 2)]
    gaussians = torch.randn(2, 6, 4)
    torch.library.opcheck(torch.ops.fastinit.orthogonal_from_, (destinations, gaussians, 2.0))
