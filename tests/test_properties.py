"""Property-based tests (hypothesis): every initializer, on any shape (0-d to
6-d, zero-size and size-1 dims), layout (transposed, stepped slices,
channels-last, storage offsets), dtype and parameters (huge, tiny, negative,
NaN, inf), either

- fills the tensor as the RNG contract says (a non-contiguous destination
  gets its contiguous twin's bits; values inside the distribution's
  support), or
- raises the exception class torch.nn.init raises for the same call, and
  leaves the tensor untouched.

The example database stays out of git (.gitignore); FASTINIT_HYPOTHESIS_EXAMPLES
sets the number of examples per test (default below). The examples are the
same on every run (reproducible CI) unless FASTINIT_HYPOTHESIS_EXPLORE=1
asks for fresh ones.
"""

import math
import os
import warnings

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastinit
import fastinit.init as fi
from conftest import assert_bitwise_equal

EXAMPLES = int(os.environ.get("FASTINIT_HYPOTHESIS_EXAMPLES", "300"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                    derandomize=os.environ.get("FASTINIT_HYPOTHESIS_EXPLORE") != "1")

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
ODD_FLOATS = st.one_of(
    st.floats(-10.0, 10.0),
    st.sampled_from([0.0, -0.0, 1e-30, -1e-30, 1e30, -1e30, math.inf, -math.inf, math.nan, 1e-300, 3.0e38]),
)


@st.composite
def destinations(draw, min_dims=0, max_dims=6, dims=None):
    """(tensor, contiguous twin): a floating tensor of a drawn shape and
    layout, filled with a sentinel, and an empty contiguous tensor of its
    shape and dtype."""
    ndim = dims if dims is not None else draw(st.integers(min_dims, max_dims))
    shape = draw(st.lists(st.sampled_from([0, 1, 1, 2, 3, 5, 8, 17]), min_size=ndim, max_size=ndim))
    if math.prod(shape) > 4096:
        shape = [min(s, 3) for s in shape]
    dtype = draw(st.sampled_from(DTYPES))
    layout = draw(st.sampled_from(["contiguous", "permuted", "stepped", "offset", "channels_last"]))
    if layout == "permuted" and ndim >= 2:
        order = draw(st.permutations(range(ndim)))
        base = torch.empty([shape[d] for d in order], dtype=dtype)
        tensor = base.permute([order.index(d) for d in range(ndim)])
    elif layout == "stepped" and ndim >= 1:
        base = torch.empty([2 * s + 1 for s in shape], dtype=dtype)
        tensor = base[tuple(slice(1, None, 2) for _ in shape)]
    elif layout == "offset":
        base = torch.empty(math.prod(shape) + 3, dtype=dtype)
        tensor = base[3:].view(shape)
    elif layout == "channels_last" and ndim == 4:
        tensor = torch.empty(shape, dtype=dtype).to(memory_format=torch.channels_last)
    else:
        tensor = torch.empty(shape, dtype=dtype)
    assert list(tensor.shape) == shape
    tensor.fill_(-7.0)
    return tensor, torch.empty(shape, dtype=dtype)


def _outcome(fn, messages=None):
    """The exception fn() raises, or None; the warnings it gives are
    appended to `messages` as (category, text)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fn()
            return None
        except Exception as error:  # noqa: BLE001  (compared below)
            return error
        finally:
            if messages is not None:
                messages += [(w.category, str(w.message)) for w in caught]


def check(name, tensor, twin, call, support=None, run_stock=True, expect_error=None):
    """call(fastinit_module, tensor, generator) on fastinit and on
    torch.nn.init. Without run_stock (torch's sampler would not finish),
    expect_error says whether fastinit must raise."""
    before = tensor.clone()
    stock = tensor.clone()
    our_warnings, stock_warnings = [], []
    error = _outcome(lambda: call(fi, tensor, torch.Generator().manual_seed(5)), our_warnings)
    if not run_stock:
        assert (error is not None) == expect_error, f"{name}: {error!r}"
        if error is not None:
            assert isinstance(error, (RuntimeError, ValueError, ZeroDivisionError)), repr(error)
            assert_bitwise_equal(tensor, before)
            return
        stock_error = None
    else:
        stock_error = _outcome(lambda: call(torch.nn.init, stock, torch.Generator().manual_seed(0)), stock_warnings)
    if error is not None or stock_error is not None:
        if error is not None:
            assert_bitwise_equal(tensor, before)
        if stock_error is not None and error is not None and isinstance(error, type(stock_error)):
            return
        documented = DEVIATIONS.get(name, lambda *_: False)(tensor, error, stock_error, stock)
        assert documented, f"{name}: fastinit {'raised ' + repr(error) if error else 'succeeded'}, " \
                           f"torch {'raised ' + repr(stock_error) if stock_error else 'succeeded'}"
        return
    if run_stock:  # torch's warnings, no more and no fewer
        assert our_warnings == stock_warnings, f"{name}: warnings {our_warnings} against torch's {stock_warnings}"
    # The RNG contract: the contiguous twin gets the same bits.
    assert _outcome(lambda: call(fi, twin, torch.Generator().manual_seed(5))) is None
    assert_bitwise_equal(tensor.contiguous(), twin)
    if support is not None and tensor.numel() > 0:
        assert support(tensor), f"{name}: values outside the support: {tensor}"


def _degenerate(tensor):
    """No elements, NaN somewhere, or every element the same value."""
    return tensor.numel() == 0 or bool(tensor.isnan().any()) or bool((tensor == tensor.flatten()[0]).all())


# Documented differences from torch (docs/design.md §7), as predicates on
# (tensor, fastinit's error, torch's error, torch's result).
DEVIATIONS = {
    # sparse_ rejects sparsity outside [0, 1] (torch zeroes all but one row
    # for negative values, and fails later for > 1)
    "sparse_": lambda t, error, stock_error, stock: isinstance(error, ValueError) and "sparsity" in str(error),
    # orthogonal_ computes float16/bfloat16 in float32 (torch's QR has no
    # kernel for them), and fills destinations whose trailing dims cannot be
    # viewed as a matrix (torch's view_as fails)
    "orthogonal_": lambda t, error, stock_error, stock: error is None and (
        t.dtype in (torch.float16, torch.bfloat16) or "view size is not compatible" in str(stock_error)),
    # trunc_normal_ rejects a negative std (torch's rejection sampler takes
    # it as |std| when it proposes uniformly), a NaN mean (torch returns
    # uniform values then) and parameters for which torch returns NaN or one
    # value everywhere
    # (or where torch's own float arithmetic overflows: OverflowError)
    "trunc_normal_": lambda t, error, stock_error, stock: isinstance(stock_error, OverflowError) or (
        isinstance(error, RuntimeError) and ("std" in str(error) or "mean" in str(error) or _degenerate(stock))),
}


def _within(low, high):
    """Values in [low, high] once the bounds are rounded to the tensor's dtype
    (rounding is monotone, so that is where exact values land)."""
    def support(x):
        rounded = [torch.tensor(bound, dtype=x.dtype) for bound in (low, high)]
        return bool(((x >= rounded[0]) & (x <= rounded[1])).all())
    return support


@SETTINGS
@given(destinations(), ODD_FLOATS, ODD_FLOATS)
def test_uniform(dest, a, b):
    tensor, twin = dest
    check("uniform_", tensor, twin, lambda m, t, g: m.uniform_(t, a, b, generator=g),
          _within(min(a, b), max(a, b)) if math.isfinite(a) and math.isfinite(b) else None)


@SETTINGS
@given(destinations(), ODD_FLOATS, ODD_FLOATS)
def test_normal(dest, mean, std):
    tensor, twin = dest
    check("normal_", tensor, twin, lambda m, t, g: m.normal_(t, mean, std, generator=g))


def _torch_trunc_normal_finishes(mean, std, a, b):
    """Whether torch's rejection sampler (normal proposals when the mass in
    [a, b] is > 0.3, else uniform proposals on [a, b]) accepts often enough
    to finish: a conservative guess."""
    values = (mean, std, a, b)
    if any(math.isnan(v) for v in values) or std == 0:
        return True  # raises or returns at once
    if not all(math.isfinite(v) for v in values) or not 1e-3 <= abs(std) <= 1e3 or max(map(abs, values)) > 1e3:
        return False
    if a >= b:
        return True
    cdf = lambda x: (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0  # noqa: E731
    if cdf((b - mean) / std) - cdf((a - mean) / std) > 0.3:
        return True
    # Uniform proposals accept about 1 / (distance x width) in std units.
    distance = abs(max(a, min(mean, b)) - mean) / abs(std)
    return distance <= 6 and (b - a) / abs(std) <= 100


@SETTINGS
@given(destinations(), ODD_FLOATS, st.one_of(st.floats(1e-3, 10.0), ODD_FLOATS), ODD_FLOATS, ODD_FLOATS)
def test_trunc_normal(dest, mean, std, a, b):
    tensor, twin = dest
    valid = (std > 0 and math.isfinite(std) and math.isfinite(mean) and a <= b and a < math.inf
             and b > -math.inf)
    check("trunc_normal_", tensor, twin, lambda m, t, g: m.trunc_normal_(t, mean, std, a, b, generator=g),
          _within(a, b) if valid else None, run_stock=_torch_trunc_normal_finishes(mean, std, a, b),
          expect_error=not valid)


@SETTINGS
@given(destinations(), ODD_FLOATS, st.sampled_from(["constant_", "ones_", "zeros_"]))
def test_constant(dest, value, name):
    tensor, twin = dest
    call = {"constant_": lambda m, t, g: m.constant_(t, value), "ones_": lambda m, t, g: m.ones_(t),
            "zeros_": lambda m, t, g: m.zeros_(t)}[name]
    check(name, tensor, twin, call)


FAN_CALLS = {
    "xavier_uniform_": lambda gain, a, mode, nl: lambda m, t, g: m.xavier_uniform_(t, gain, generator=g),
    "xavier_normal_": lambda gain, a, mode, nl: lambda m, t, g: m.xavier_normal_(t, gain, generator=g),
    "kaiming_uniform_": lambda gain, a, mode, nl: lambda m, t, g: m.kaiming_uniform_(t, a, mode, nl, generator=g),
    "kaiming_normal_": lambda gain, a, mode, nl: lambda m, t, g: m.kaiming_normal_(t, a, mode, nl, generator=g),
    "orthogonal_": lambda gain, a, mode, nl: lambda m, t, g: m.orthogonal_(t, gain, generator=g),
}


@SETTINGS
@given(st.sampled_from(sorted(FAN_CALLS)), destinations(max_dims=5), ODD_FLOATS, ODD_FLOATS,
       st.sampled_from(["fan_in", "fan_out", "FAN_IN", "fan_avg"]),
       st.sampled_from(["leaky_relu", "relu", "tanh", "linear", "selu", "conv2d", "softmax"]))
def test_fan_based(name, dest, gain, a, mode, nonlinearity):
    tensor, twin = dest
    check(name, tensor, twin, FAN_CALLS[name](gain, a, mode, nonlinearity))


@SETTINGS
@given(destinations(min_dims=1, max_dims=3), st.one_of(st.sampled_from([0.0, 1.0, -0.1, 1.5]), st.floats(0, 1)),
       ODD_FLOATS)
def test_sparse(dest, sparsity, std):
    tensor, twin = dest
    check("sparse_", tensor, twin, lambda m, t, g: m.sparse_(t, sparsity, std, generator=g))


@SETTINGS
@given(destinations(min_dims=1, max_dims=6), st.integers(1, 3))
def test_eye_and_dirac(dest, groups):
    tensor, twin = dest
    check("eye_", tensor, twin, lambda m, t, g: m.eye_(t))
    check("dirac_", tensor, twin, lambda m, t, g: m.dirac_(t, groups))


@SETTINGS
@given(destinations(), st.lists(st.tuples(st.floats(0.0, 2.0), ODD_FLOATS, ODD_FLOATS), min_size=1, max_size=4))
def test_mixture(dest, rows):
    """Mixtures have no torch counterpart: either the components are valid
    (probabilities summing to 1, finite bounds a <= b) and the fill meets
    the contract and the support, or the call raises and writes nothing."""
    tensor, twin = dest
    components = [(p, fastinit.Uniform(min(a, b), max(a, b))) for p, a, b in rows]
    before = tensor.clone()
    error = _outcome(lambda: fastinit.mixture_(tensor, components, generator=torch.Generator().manual_seed(1)))
    total = sum(p for p, _, _ in rows)
    valid = abs(total - 1) < 1e-6 and all(math.isfinite(a) and math.isfinite(b) for _, a, b in rows)
    if error is not None:
        assert isinstance(error, (ValueError, RuntimeError, NotImplementedError)), repr(error)
        assert_bitwise_equal(tensor, before)
        assert not valid, f"valid mixture rejected: {error!r}"
        return
    fastinit.mixture_(twin, components, generator=torch.Generator().manual_seed(1))
    assert_bitwise_equal(tensor.contiguous(), twin)
    low = min(min(a, b) for _, a, b in rows)
    high = max(max(a, b) for _, a, b in rows)
    if tensor.numel() and math.isfinite(low) and math.isfinite(high):
        # mixtures are float32-computed for every dtype (float64 included)
        computed = tensor.float() if tensor.dtype == torch.float64 else tensor
        assert _within(low, high)(computed)


def test_example_database_is_not_committed():
    ignore = (os.path.join(os.path.dirname(__file__), "..", ".gitignore"))
    assert ".hypothesis/" in open(ignore).read().split()
