"""Goodness-of-fit helpers for the statistical tests.

float32/float64 samples are compared with the continuous reference by a
Kolmogorov-Smirnov test. float16/bfloat16 samples take only a few thousand
distinct values, which a KS test against a continuous CDF would reject, so
they get a chi-square test against the exact distribution of the rounded
reference: P(round(X) = v) = F(upper midpoint of v) - F(lower midpoint of v).
"""

import numpy as np
import scipy.stats
import torch

P_MIN = 1e-4  # the threshold; every test is seeded, so not flaky
_BITS_DTYPE = {torch.float16: torch.int16, torch.bfloat16: torch.int16}


def representable_values(dtype: torch.dtype) -> np.ndarray:
    """Every finite value of a 16-bit float dtype, sorted (one zero)."""
    patterns = torch.arange(-(2**15), 2**15, dtype=torch.int32).to(torch.int16)
    values = patterns.view(dtype).double()
    return torch.unique(values[torch.isfinite(values)]).numpy()


def rounded_chisquare_pvalue(samples: torch.Tensor, cdf, bins: int = 50) -> float:
    values = representable_values(samples.dtype)
    edges = np.concatenate(([-np.inf], (values[1:] + values[:-1]) / 2, [np.inf]))
    x = samples.double().flatten().numpy()
    index = np.searchsorted(values, x)
    assert np.all(values[index] == x), "samples must be representable"
    # Group representable values into bins of roughly equal reference mass.
    mass_below = cdf(edges[1:])  # F at the upper edge of each value
    targets = np.linspace(0, 1, bins + 1)[1:-1]
    cuts = np.unique(np.searchsorted(mass_below, targets))
    bin_of_value = np.searchsorted(cuts, np.arange(len(values)), side="left")
    observed = np.bincount(bin_of_value[index], minlength=len(cuts) + 1)
    upper = np.concatenate((edges[cuts + 1], [np.inf]))
    lower = np.concatenate(([-np.inf], edges[cuts + 1]))
    expected = (cdf(upper) - cdf(lower)) * len(x)
    keep = expected > 0
    assert observed[~keep].sum() == 0, "samples where the reference has no mass"
    observed, expected = observed[keep], expected[keep]
    expected *= observed.sum() / expected.sum()
    return scipy.stats.chisquare(observed, expected).pvalue


def fit_pvalue(samples: torch.Tensor, reference) -> float:
    """p-value of `samples` (any float dtype) against a scipy distribution."""
    if samples.dtype in (torch.float16, torch.bfloat16):
        return rounded_chisquare_pvalue(samples, reference.cdf)
    x = samples.double().flatten().numpy()
    return scipy.stats.kstest(x, reference.cdf).pvalue


def assert_fits(samples: torch.Tensor, reference) -> None:
    p = fit_pvalue(samples, reference)
    assert p > P_MIN, f"p = {p:.3g} for {samples.dtype} against {reference.dist.name}{reference.args}{reference.kwds}"
