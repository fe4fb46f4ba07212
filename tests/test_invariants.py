"""The RNG contract, bit for bit (Note [fastinit RNG contract]): values are a
pure function of (seed, logical index, parameters)."""

import pytest
import torch

import fastinit.init as fi
from conftest import FLOAT_DTYPES, assert_bitwise_equal
from fastinit._ops import draw_seeds, ops

pytestmark = pytest.mark.filterwarnings("ignore:mean is more than 2 std")

# name -> fill with a generator
INITS = {
    "uniform_": lambda t, g: fi.uniform_(t, -2.0, 3.0, generator=g),
    "normal_": lambda t, g: fi.normal_(t, 0.5, 2.0, generator=g),
    "trunc_normal_": lambda t, g: fi.trunc_normal_(t, 0.1, 1.0, -1.5, 2.0, generator=g),
    "trunc_normal_tail": lambda t, g: fi.trunc_normal_(t, 0.0, 1.0, 3.0, 4.0, generator=g),
    "xavier_uniform_": lambda t, g: fi.xavier_uniform_(t, generator=g),
    "xavier_normal_": lambda t, g: fi.xavier_normal_(t, generator=g),
    "kaiming_uniform_": lambda t, g: fi.kaiming_uniform_(t, a=5**0.5, generator=g),
    "kaiming_normal_": lambda t, g: fi.kaiming_normal_(t, mode="fan_out", generator=g),
    "orthogonal_": lambda t, g: fi.orthogonal_(t, generator=g),
    "sparse_": lambda t, g: fi.sparse_(t, 0.3, generator=g),
}
TWO_D_ONLY = {"sparse_"}


def _fill(name, tensor, seed):
    return INITS[name](tensor, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", INITS)
def test_same_seed_same_bits(name, dtype):
    first = _fill(name, torch.empty(33, 17, dtype=dtype), 11)
    second = _fill(name, torch.empty(33, 17, dtype=dtype), 11)
    assert_bitwise_equal(first, second)
    other = _fill(name, torch.empty(33, 17, dtype=dtype), 12)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("name", INITS)
def test_generator_equals_manual_seed(name):
    g = torch.Generator().manual_seed(2024)
    with_generator = INITS[name](torch.empty(40, 30), g)
    torch.manual_seed(2024)
    with_default = INITS[name](torch.empty(40, 30), None)
    assert_bitwise_equal(with_generator, with_default)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", [n for n in INITS if n != "orthogonal_"])
def test_thread_count_does_not_change_bits(name, dtype, restore_threads):
    shape = (1031, 1025)  # ~1 M elements, many parallel chunks, odd tails
    torch.set_num_threads(1)
    single = _fill(name, torch.empty(shape, dtype=dtype), 5)
    torch.set_num_threads(2)
    double = _fill(name, torch.empty(shape, dtype=dtype), 5)
    assert_bitwise_equal(single, double)


def _non_contiguous_views(shape, dtype):
    """(description, view of `shape`, base tensor or None) triples."""
    rows, cols = shape[0], shape[1]
    rest = shape[2:]
    transposed = torch.empty((cols, rows) + rest, dtype=dtype).transpose(0, 1)
    base = torch.zeros((rows, 2 * cols) + rest, dtype=dtype)
    strided = base[:, ::2]
    views = [("transposed", transposed, None), ("every-other-column", strided, base)]
    if len(shape) == 4:
        views.append(("channels-last", torch.empty(shape, dtype=dtype, memory_format=torch.channels_last), None))
    return views


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape", [(37, 29), (16, 8, 3, 5)])
@pytest.mark.parametrize("name", INITS)
def test_non_contiguous_destination_gets_contiguous_values(name, shape, dtype):
    if name in TWO_D_ONLY and len(shape) != 2:
        pytest.skip("2-D only")
    expected = _fill(name, torch.empty(shape, dtype=dtype), 99)
    for description, view, base in _non_contiguous_views(shape, dtype):
        assert not view.is_contiguous()
        result = _fill(name, view, 99)
        assert result is view
        assert_bitwise_equal(view, expected)
        if base is not None:
            assert torch.all(base[:, 1::2] == 0), f"{description}: wrote outside the view"


@pytest.mark.parametrize("name", ["uniform_", "normal_", "trunc_normal_"])
def test_many_dims_non_contiguous(name):
    """More dims than the strided walker takes: the fallback path."""
    shape = (2,) * 18
    expected = _fill(name, torch.empty(shape), 3)
    view = torch.empty(shape).permute(*reversed(range(18)))
    assert_bitwise_equal(_fill(name, view, 3), expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", [n for n in INITS if n not in ("sparse_", "orthogonal_")])
def test_low_precision_is_float32_rounded_once(name, dtype):
    wide = _fill(name, torch.empty(64, 48), 8)
    narrow = _fill(name, torch.empty(64, 48, dtype=dtype), 8)
    assert_bitwise_equal(narrow, wide.to(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("half_width", [7.0, 100.0, 3.0])
def test_wide_truncated_normal_is_the_normal(half_width, dtype):
    """A truncated normal's first attempt uses normal_'s Box-Muller values,
    so where the interval holds every one of them (|z| <= 6.67, the kernels
    then skip the rejection test) it is normal_ bit for bit; with a narrower
    interval the values outside are redrawn and the rest are unchanged."""
    mean, std = 0.5, 0.02
    bound = half_width * std
    normal = fi.normal_(torch.empty(1000, 1001, dtype=dtype), mean, std, torch.Generator().manual_seed(4))
    truncated = fi.trunc_normal_(torch.empty(1000, 1001, dtype=dtype), mean, std, mean - bound, mean + bound,
                                 torch.Generator().manual_seed(4))
    if half_width > 6.7:
        assert_bitwise_equal(truncated, normal)
    else:
        # accepted where the float32 value lies inside (a narrow dtype rounds it)
        computed = fi.normal_(torch.empty(1000, 1001), mean, std, torch.Generator().manual_seed(4))
        inside = (computed - mean).abs() <= bound * 0.999
        assert 0 < int((~inside).sum()) < normal.numel() // 100
        assert_bitwise_equal(truncated[inside], normal[inside])
        rounding = torch.finfo(dtype).eps  # relative to values near mean = 0.5
        assert bool(((truncated.float() - mean).abs() <= bound + rounding).all())
        if dtype == torch.float32:  # redrawn, not clamped onto the bounds
            at_bounds = (truncated == torch.tensor([mean - bound, mean + bound])[:, None, None]).sum()
            assert int(at_bounds) == 0


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", ["uniform_", "normal_", "trunc_normal_", "trunc_normal_tail"])
def test_value_depends_only_on_index(name, dtype):
    """A small tensor holds the first elements of a big one (same seed)."""
    big = _fill(name, torch.empty(100_003, dtype=dtype), 21)
    for n in (1, 3, 5, 4097):
        assert_bitwise_equal(_fill(name, torch.empty(n, dtype=dtype), 21), big[:n])
    reshaped = _fill(name, torch.empty(7, 14287, dtype=dtype)[:, :14286], 21)
    assert_bitwise_equal(reshaped.reshape(-1)[:1000], big[:1000])


def test_seed_draws_batch_like_single_draws():
    g = torch.Generator().manual_seed(77)
    batched = draw_seeds(g, 5)
    g.manual_seed(77)
    single = [draw_seeds(g, 1)[0] for _ in range(5)]
    assert batched == single
    assert len(set(batched)) == 5


@pytest.mark.parametrize(
    "op,params",
    [
        (ops.uniform_, ([-1.0, 0.0, 2.0], [1.0, 0.5, 4.0])),
        (ops.normal_, ([0.0, 1.0, -1.0], [1.0, 0.1, 3.0])),
        (ops.trunc_normal_, ([0.0, 0.0, 1.0], [1.0, 2.0, 0.5], [-2.0, 3.0, 0.0], [2.0, 9.0, 1.2])),
    ],
)
def test_batched_op_equals_single_calls(op, params):
    shapes_dtypes = [((5, 7), torch.float32), ((3, 100), torch.bfloat16), ((1000,), torch.float64)]
    batched = [torch.empty(s, dtype=d) for s, d in shapes_dtypes]
    seeds = [3, -5, 2**62 + 1]
    op(batched, seeds, *params)
    for i, (shape, dtype) in enumerate(shapes_dtypes):
        single = torch.empty(shape, dtype=dtype)
        op([single], [seeds[i]], *[[p[i]] for p in params])
        assert_bitwise_equal(batched[i], single)


def test_batch_with_a_bad_member_writes_nothing():
    good = torch.zeros(10)
    bad = torch.zeros(10)
    with pytest.raises(RuntimeError, match=r"a=2.*b=1"):
        ops.uniform_([good, bad], [1, 2], [0.0, 2.0], [1.0, 1.0])
    assert torch.all(good == 0) and torch.all(bad == 0)
