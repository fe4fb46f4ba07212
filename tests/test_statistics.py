"""Every random initializer draws from torch's distribution: KS tests on
float32/float64 and exact chi-square tests on float16/bfloat16, 10^5+ samples."""

import math

import pytest
import scipy.stats
import torch
import torch.nn.init as stock

import fastinit
import fastinit.init as fi
from conftest import FLOAT_DTYPES
from stats import assert_fits, fit_pvalue, P_MIN

N = 200_000


def _seeded(seed=1234):
    torch.manual_seed(seed)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("a,b", [(0.0, 1.0), (-3.0, 5.0), (1e-3, 2e-3)])
def test_uniform(dtype, a, b):
    _seeded()
    x = fi.uniform_(torch.empty(N, dtype=dtype), a, b)
    assert_fits(x, scipy.stats.uniform(loc=a, scale=b - a))
    assert x.min() >= a and x.max() <= b


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("mean,std", [(0.0, 1.0), (3.0, 0.01), (-1.0, 5.0)])
def test_normal(dtype, mean, std):
    _seeded()
    x = fi.normal_(torch.empty(N, dtype=dtype), mean, std)
    assert_fits(x, scipy.stats.norm(loc=mean, scale=std))


def test_a_wrong_distribution_fails():
    """The tests above can fail: a normal does not pass as a uniform, a
    std off by 3 % does not pass, nor does bfloat16 data off by one ulp."""
    _seeded()
    x = fi.normal_(torch.empty(N), 0.0, 1.0)
    assert fit_pvalue(x, scipy.stats.norm(scale=1.03)) < P_MIN
    assert fit_pvalue(x, scipy.stats.uniform(loc=-3, scale=6)) < P_MIN
    y = fi.uniform_(torch.empty(N, dtype=torch.bfloat16), 1.0, 2.0)
    y_shifted = torch.nextafter(y, torch.tensor(3.0, dtype=torch.bfloat16))
    assert fit_pvalue(y_shifted, scipy.stats.uniform(loc=1, scale=1)) < P_MIN


FAN_SHAPES = [(512, 400), (64, 32, 3, 3)]
KAIMING_CASES = [
    ("fan_in", "leaky_relu", 0),
    ("fan_out", "relu", 0),
    ("fan_in", "leaky_relu", 0.2),
    ("fan_out", "tanh", 0),
    ("fan_in", "leaky_relu", math.sqrt(5)),
]


def _kaiming_std_reference(tensor, mode, nonlinearity, a):
    fan_in, fan_out = stock._calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return stock.calculate_gain(nonlinearity, a) / math.sqrt(fan)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape", FAN_SHAPES)
@pytest.mark.parametrize("mode,nonlinearity,a", KAIMING_CASES)
def test_kaiming(dtype, shape, mode, nonlinearity, a):
    _seeded()
    w = torch.empty(shape, dtype=dtype)
    std = _kaiming_std_reference(w, mode, nonlinearity, a)
    fi.kaiming_uniform_(w, a=a, mode=mode, nonlinearity=nonlinearity)
    bound = math.sqrt(3.0) * std
    assert_fits(w, scipy.stats.uniform(loc=-bound, scale=2 * bound))
    fi.kaiming_normal_(w, a=a, mode=mode, nonlinearity=nonlinearity)
    assert_fits(w, scipy.stats.norm(scale=std))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape", FAN_SHAPES)
@pytest.mark.parametrize("gain", [1.0, stock.calculate_gain("relu"), 0.25])
def test_xavier(dtype, shape, gain):
    _seeded()
    w = torch.empty(shape, dtype=dtype)
    fan_in, fan_out = stock._calculate_fan_in_and_fan_out(w)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    fi.xavier_uniform_(w, gain=gain)
    bound = math.sqrt(3.0) * std
    assert_fits(w, scipy.stats.uniform(loc=-bound, scale=2 * bound))
    fi.xavier_normal_(w, gain=gain)
    assert_fits(w, scipy.stats.norm(scale=std))


TRUNC_CASES = {
    "default": (0.0, 1.0, -2.0, 2.0),
    "vit-style": (0.0, 0.02, -2.0, 2.0),
    "narrow-around-mean": (0.0, 1.0, -0.3, 0.4),
    "narrow-off-mean": (1.0, 1.0, 1.1, 1.25),
    "one-sided-tail": (0.0, 1.0, 3.0, math.inf),
    "half-normal": (0.0, 1.0, -math.inf, 0.0),
    "far-tail": (0.0, 1.0, 8.0, 9.0),
    "far-lower-tail": (0.0, 1.0, -9.0, -8.0),
    "very-far-narrow": (0.0, 1.0, 30.0, 30.5),
    "small-std": (2.0, 1e-3, 1.999, 2.0025),
    "shifted": (5.0, 2.0, 0.0, 4.0),
}


@pytest.mark.filterwarnings("ignore:mean is more than 2 std")
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("case", list(TRUNC_CASES), ids=list(TRUNC_CASES))
def test_trunc_normal(dtype, case):
    mean, std, a, b = TRUNC_CASES[case]
    if dtype in (torch.float16, torch.bfloat16) and case == "small-std":
        pytest.skip("the interval holds only a handful of 16-bit values")
    _seeded()
    x = fi.trunc_normal_(torch.empty(N, dtype=dtype), mean, std, a, b)
    lo = torch.tensor(a, dtype=dtype).item()
    hi = torch.tensor(b, dtype=dtype).item()
    assert x.min().item() >= lo and x.max().item() <= hi
    reference = scipy.stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    if dtype in (torch.float32, torch.float64):
        # Exact sampling never piles values onto a bound: only the values
        # within half an ulp of a bound round onto it.
        def half_ulp(bound):
            return torch.finfo(dtype).eps * max(abs(bound), 1.0) / 2 if math.isfinite(bound) else 0.0

        expected = N * (reference.cdf(lo + half_ulp(lo)) + reference.sf(hi - half_ulp(hi)))
        at_bounds = ((x == lo) | (x == hi)).sum().item()
        assert at_bounds <= 5 + 3 * expected
    assert_fits(x, reference)


def test_trunc_normal_degenerate_interval():
    x = fi.trunc_normal_(torch.empty(1000), 0.0, 1.0, 0.7, 0.7)
    assert torch.all(x == torch.tensor(0.7))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("rows,cols,sparsity", [(100, 2000, 0.1), (37, 3000, 0.5), (10, 100, 0.0), (8, 50, 1.0), (1000, 200, 0.33)])
def test_sparse(dtype, rows, cols, sparsity):
    _seeded()
    w = fi.sparse_(torch.empty(rows, cols, dtype=dtype), sparsity, std=0.05)
    _seeded()
    dense = fi.normal_(torch.empty(rows, cols, dtype=dtype), std=0.05)
    kept = w != 0
    assert torch.equal(w[kept], dense[kept]), "the kept values are normal_'s"
    zeros_per_column = (w == 0).sum(dim=0) - ((w == 0) & (dense == 0)).sum(dim=0)
    assert torch.all(zeros_per_column == math.ceil(sparsity * rows))
    nonzero = w[w != 0]
    if nonzero.numel() > 50_000:
        assert_fits(nonzero, scipy.stats.norm(scale=0.05))


def test_sparse_zero_positions_are_uniform():
    """Each row is zeroed in a column with probability count / rows."""
    _seeded()
    rows, cols, sparsity = 20, 20_000, 0.25
    w = fi.sparse_(torch.empty(rows, cols), sparsity)
    zeros_per_row = (w == 0).sum(dim=1).double().numpy()
    expected = [cols * math.ceil(sparsity * rows) / rows] * rows
    assert scipy.stats.chisquare(zeros_per_row, expected).pvalue > P_MIN


def _orthogonality_error(w: torch.Tensor) -> float:
    flat = w.reshape(w.shape[0], -1).double()
    if flat.shape[0] > flat.shape[1]:
        flat = flat.t()
    return (flat @ flat.t() - torch.eye(flat.shape[0], dtype=torch.float64)).abs().max().item()


@pytest.mark.parametrize("shape", [(64, 64), (30, 100), (100, 30), (16, 8, 3, 3), (200, 4, 2, 2)])
@pytest.mark.parametrize("dtype,tolerance", [(torch.float64, 1e-6), (torch.float32, 1e-5)])
def test_orthogonal(shape, dtype, tolerance):
    _seeded()
    w = fi.orthogonal_(torch.empty(shape, dtype=dtype))
    assert _orthogonality_error(w) < tolerance
    g = fi.orthogonal_(torch.empty(shape, dtype=dtype), gain=2.5)
    assert _orthogonality_error(g / 2.5) < tolerance


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_orthogonal_low_precision(dtype):
    _seeded(7)
    w = fi.orthogonal_(torch.empty(48, 32, dtype=dtype))
    _seeded(7)
    reference = fi.orthogonal_(torch.empty(48, 32))
    assert torch.equal(w, reference.to(dtype)), "computed in float32, rounded once"


def test_orthogonal_is_haar():
    """An entry of a Haar-random 3x3 orthogonal matrix is uniform on [-1, 1]
    (Archimedes); without the sign correction of R's diagonal it is not."""
    _seeded()
    g = torch.Generator().manual_seed(5)
    entries = torch.tensor([fi.orthogonal_(torch.empty(3, 3, dtype=torch.float64), generator=g)[0, 0].item() for _ in range(20_000)])
    assert_fits(entries, scipy.stats.uniform(loc=-1, scale=2))


@pytest.mark.parametrize("shape", [(4, 4), (7, 3), (3, 7), (2, 3, 2)])
def test_orthogonal_entries_have_the_haar_law(shape):
    """Each column (each row when wide) of a Haar-random matrix with n-long
    orthonormal columns is uniform on the sphere S^(n-1): every entry is
    sign-symmetric and its square is Beta(1/2, (n - 1)/2). The first and the
    last reflector's columns and one in between are checked."""
    stack = torch.empty(20_000, *shape, dtype=torch.float64)
    fastinit.batched_orthogonal_(stack, generator=torch.Generator().manual_seed(9))
    matrices = stack.flatten(2)
    rows, cols = matrices.shape[1:]
    law = scipy.stats.beta(0.5, (max(rows, cols) - 1) / 2)
    for i, j in [(0, 0), (rows - 1, cols - 1), (rows // 2, cols - 1), (rows - 1, 0), (0, cols // 2)]:
        entries = matrices[:, i, j]
        assert_fits(entries.square(), law)
        positive = int((entries > 0).sum())
        assert scipy.stats.binomtest(positive, len(entries)).pvalue > P_MIN, (i, j, positive)


def test_orthogonal_square_covers_the_whole_group():
    """Haar measure on O(4): determinants +1 and -1 equally likely, and the
    trace's first two moments those of Diaconis and Shahshahani, E tr Q = 0
    and E (tr Q)^2 = 1 (a bias towards the identity or one component would
    show in them)."""
    stack = torch.empty(40_000, 4, 4, dtype=torch.float64)
    fastinit.batched_orthogonal_(stack, generator=torch.Generator().manual_seed(10))
    determinants = torch.linalg.det(stack)
    assert torch.allclose(determinants.abs(), torch.ones(()).double())
    assert scipy.stats.binomtest(int((determinants > 0).sum()), len(stack)).pvalue > P_MIN
    traces = stack.diagonal(0, -2, -1).sum(-1).numpy()
    assert scipy.stats.ttest_1samp(traces, 0.0).pvalue > P_MIN
    assert scipy.stats.ttest_1samp(traces**2, 1.0).pvalue > P_MIN
