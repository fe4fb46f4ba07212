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
    destinations = [torch.empty(6, 4), torch.empty(4, 3, 2)]  # tall, wide
    gaussians = torch.randn(2, 4, 6)
    torch.library.opcheck(torch.ops.fastinit.orthogonal_from_, (destinations, gaussians, 2.0))


def test_reset_parameters_orthogonal_rules_are_batched_and_equal_the_loop():
    """rules can name orthogonal for any parameter (every weight_hh of an
    LSTM here): one gaussian fill and one QR op per shape group, values equal
    to orthogonal_ on each tensor in module order with the same generator."""
    model = torch.nn.Sequential(torch.nn.LSTM(16, 32, num_layers=3), torch.nn.Linear(32, 32))
    rules = {"*weight_hh*": fastinit.Orthogonal(gain=0.5), "1.weight": fastinit.Orthogonal()}
    calls = []
    original = torch.ops.fastinit.orthogonal_from_
    with_counter = lambda *args: calls.append(len(args[0])) or original(*args)  # noqa: E731
    fastinit.init.ops.orthogonal_from_, saved = with_counter, fastinit.init.ops.orthogonal_from_
    try:
        fastinit.reset_parameters(model, rules=rules, generator=torch.Generator().manual_seed(5), seeds="in_order")
    finally:
        fastinit.init.ops.orthogonal_from_ = saved
    assert calls == [3, 1], calls  # gain 0.5: three (128, 32) weights; gain 1: one Linear
    g = torch.Generator().manual_seed(5)
    expected = {}
    for name, p in model.named_parameters():
        if "weight_hh" in name:
            expected[name] = fi.orthogonal_(torch.empty_like(p), gain=0.5, generator=g)
        elif name == "1.weight":
            expected[name] = fi.orthogonal_(torch.empty_like(p), generator=g)
        else:  # the other parameters' seeds, in module order
            fi.uniform_(torch.empty_like(p), generator=g)
    for name, want in expected.items():
        assert_bitwise_equal(model.get_parameter(name).detach(), want)
        assert _orthogonality_error(want, 0.5 if "hh" in name else 1.0) < 1e-5


@pytest.mark.parametrize("shape", [(128, 32), (32, 300), (256, 256)])
def test_small_matrices_get_the_same_bits_alone_batched_and_on_any_thread_count(shape, restore_threads):
    """Note [reproducible QR]."""
    results = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        alone = fi.orthogonal_(torch.empty(shape), generator=torch.Generator().manual_seed(9))
        batch = [torch.empty(shape) for _ in range(3)]
        fastinit.batched_orthogonal_(batch, generator=torch.Generator().manual_seed(9))
        assert_bitwise_equal(batch[0], alone)
        results.append(alone)
    assert_bitwise_equal(results[0], results[1])


FIRST_BATCH_SCRIPT = r"""
import torch, fastinit, fastinit.init as fi
torch.set_num_threads(2)
batches = []
for _ in range(2):
    batch = torch.empty(5, 48, 80)
    fastinit.batched_orthogonal_(batch, generator=torch.Generator().manual_seed(3))
    batches.append(batch)
print([torch.equal(first, second) for first, second in zip(*batches)])
"""


def test_a_process_first_batch_equals_every_later_one():
    """Note [a worker thread's first parallel op] in csrc/cpu/orthogonal.cpp:
    the first batched call of a fresh process on two threads, whose second
    thread has run no torch op yet, gives every matrix the bits of later
    calls."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", FIRST_BATCH_SCRIPT], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str([True] * 5)
