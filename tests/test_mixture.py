"""Fused mixtures: distribution, validation, the RNG contract, and use as
rules of reset_parameters."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

import fastinit
from conftest import FLOAT_DTYPES, assert_bitwise_equal
from fastinit import Constant, FanScaled, Mixture, Normal, Uniform, masked, mixture_
from stats import P_MIN

D2L = [(0.25, Uniform(5, 10)), (0.5, Constant(0.0)), (0.25, Uniform(-10, -5))]
N = 200_000


def _mixture_cdf(components):
    def cdf(x):
        x = np.asarray(x, dtype=np.float64)
        total = np.zeros_like(x)
        for p, kind, params in components:
            if kind == "uniform":
                total += p * scipy.stats.uniform(params[0], params[1] - params[0]).cdf(x)
            elif kind == "normal":
                total += p * scipy.stats.norm(*params).cdf(x)
            else:
                total += p * (x >= params[0])
        return total

    return cdf


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_d2l_mixture(dtype):
    torch.manual_seed(0)
    w = mixture_(torch.empty(N, dtype=dtype), D2L).double()
    zeros = (w == 0).sum().item()
    assert scipy.stats.binomtest(zeros, N, 0.5).pvalue > P_MIN
    nonzero = w[w != 0].numpy()
    assert np.all((np.abs(nonzero) >= 5) & (np.abs(nonzero) <= 10))
    if dtype in (torch.float32, torch.float64):
        cdf = _mixture_cdf([(0.5, "uniform", (5, 10)), (0.5, "uniform", (-10, -5))])
        assert scipy.stats.kstest(nonzero, cdf).pvalue > P_MIN


def test_two_normal_mixture():
    torch.manual_seed(1)
    w = mixture_(torch.empty(N), [(0.3, Normal(-2.0, 0.5)), (0.7, Normal(1.0, 1.5))])
    cdf = _mixture_cdf([(0.3, "normal", (-2.0, 0.5)), (0.7, "normal", (1.0, 1.5))])
    assert scipy.stats.kstest(w.double().numpy(), cdf).pvalue > P_MIN
    wrong = _mixture_cdf([(0.35, "normal", (-2.0, 0.5)), (0.65, "normal", (1.0, 1.5))])
    assert scipy.stats.kstest(w.double().numpy(), wrong).pvalue < P_MIN


def test_scaled_and_masked():
    torch.manual_seed(2)
    w = mixture_(torch.empty(512, 400), [(1.0, FanScaled(Uniform(-1, 1), "kaiming", gain=math.sqrt(2)))])
    s = math.sqrt(2) / math.sqrt(400)
    assert scipy.stats.kstest(w.flatten().double().numpy(), scipy.stats.uniform(-s, 2 * s).cdf).pvalue > P_MIN
    m = mixture_(torch.empty(N), masked(Normal(0.0, 1.0), keep=0.2))
    kept = (m != 0).sum().item()
    assert scipy.stats.binomtest(kept, N, 0.2).pvalue > P_MIN
    nested = Mixture([(0.5, Mixture([(0.5, Constant(1.0)), (0.5, Constant(2.0))])), (0.5, Constant(3.0))])
    values = mixture_(torch.empty(N), nested)
    counts = [(values == v).sum().item() for v in (1.0, 2.0, 3.0)]
    assert scipy.stats.chisquare(counts, [N / 4, N / 4, N / 2]).pvalue > P_MIN


@pytest.mark.parametrize(
    "components,error,pattern",
    [
        ([], ValueError, "at least one"),
        ([(0.5, Uniform(0, 1)), (0.6, Constant(1.0))], ValueError, "sum to 1"),
        ([(-0.5, Uniform(0, 1)), (1.5, Constant(1.0))], ValueError, ">= 0"),
        ([(1.0, Uniform(2, 1))], ValueError, "a <= b"),
        ([(1.0, Normal(0, -1))], ValueError, "std >= 0"),
        ([(1.0, Normal(float("nan"), 1))], ValueError, "finite"),
        ([(1.0, fastinit.Orthogonal())], NotImplementedError, "not supported"),
        ([(1.0, fastinit.TruncNormal(0.0, 1.0, 2.0, 1.0))], ValueError, "truncated normal"),
        ([(0.1, Constant(0.0))] * 10, ValueError, "1 to 8 components"),
        ([("x", Constant(1.0))], ValueError, "could not convert"),
    ],
)
def test_validation_leaves_the_tensor_untouched(components, error, pattern):
    tensor = torch.full((10,), 7.0)
    with pytest.raises(error, match=pattern):
        mixture_(tensor, components)
    assert torch.all(tensor == 7.0)


def test_rng_contract(restore_threads):
    def fill(t):
        return mixture_(t, D2L, generator=torch.Generator().manual_seed(9))

    big = fill(torch.empty(1031, 1025))
    torch.set_num_threads(1)
    assert_bitwise_equal(fill(torch.empty(1031, 1025)), big)
    torch.set_num_threads(2)
    assert_bitwise_equal(fill(torch.empty(1025, 1031).t()), big)
    assert_bitwise_equal(fill(torch.empty(37)), big.flatten()[:37])
    assert_bitwise_equal(fill(torch.empty(64, 8, dtype=torch.bfloat16)), fill(torch.empty(64, 8)).bfloat16())


def test_mixture_as_a_rule_is_batched_and_equal_to_single_calls():
    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.Linear(16, 16))
    rule = Mixture(D2L)
    fastinit.reset_parameters(model, rules={torch.nn.Linear: rule}, generator=torch.Generator().manual_seed(4),
                              seeds="in_order")
    g = torch.Generator().manual_seed(4)
    for p in [model[0].weight, model[0].bias, model[1].weight, model[1].bias]:
        assert_bitwise_equal(p.detach(), mixture_(torch.empty_like(p), rule, generator=g))


def test_opcheck():
    tensors = [torch.empty(8, 5), torch.empty(3, 7, dtype=torch.bfloat16)]
    torch.library.opcheck(torch.ops.fastinit.mixture_,
                          (tensors, [1, 2], [2, 1], [0.5, 0.5, 1.0], [1, 3, 0],
                           [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, -1.0, 1.0, 3.0, 0.0, 0.0, 0.0]))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("a,b", [(-1.0, 1.0), (2.0, 2.5), (1.5, math.inf)], ids=["normal-proposal", "narrow", "tail"])
def test_truncated_normal_components(dtype, a, b):
    torch.manual_seed(5)
    components = [(0.4, fastinit.TruncNormal(0.0, 1.0, a, b)), (0.6, Uniform(-5.0, -3.0))]
    w = mixture_(torch.empty(N, dtype=dtype), components).double()
    truncated = w[w > -2.5].numpy()
    assert np.all((truncated >= a) & (truncated <= b))
    assert scipy.stats.binomtest(len(truncated), N, 0.4).pvalue > P_MIN
    if dtype in (torch.float32, torch.float64):
        assert scipy.stats.kstest(truncated, scipy.stats.truncnorm(a, b).cdf).pvalue > P_MIN


def test_truncated_components_keep_the_rng_contract(restore_threads):
    components = [(0.5, fastinit.TruncNormal(0.0, 1.0, -1.0, 1.0)), (0.5, fastinit.TruncNormal(0.0, 1.0, 2.0, 2.5))]

    def fill(t):
        return mixture_(t, components, generator=torch.Generator().manual_seed(8))

    big = fill(torch.empty(999, 1001))
    torch.set_num_threads(1)
    assert_bitwise_equal(fill(torch.empty(999, 1001)), big)
    assert_bitwise_equal(fill(torch.empty(1001, 999).t()), big)
    assert_bitwise_equal(fill(torch.empty(77)), big.flatten()[:77])


def test_rare_component_uses_full_resolution_choices():
    """A probability below 1/256 switches to separate choice and value words."""
    torch.manual_seed(3)
    components = [(0.003, Uniform(10, 11)), (0.997, Uniform(0, 1))]
    w = mixture_(torch.empty(N), components).double().numpy()
    cdf = _mixture_cdf([(0.003, "uniform", (10, 11)), (0.997, "uniform", (0, 1))])
    assert scipy.stats.kstest(w, cdf).pvalue > P_MIN
