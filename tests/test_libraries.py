"""The libraries' own initializers (fastinit.libraries): timm's functions
swapped under patched() wherever they are held and restored after; each
runs as one fastinit kernel with the distribution of timm's own function
(two-sample tests against it), timm's return values, warnings and errors."""

import math
import sys
import warnings

import pytest
import scipy.stats
import torch

import fastinit
from dispatch_log import OpLog, stock_random_ops
from stats import P_MIN

timm = pytest.importorskip("timm")
import timm.layers.weight_init as timm_init  # noqa: E402
import timm.models.vision_transformer  # noqa: E402,F401  (holds trunc_normal_ and lecun_normal_ by name)

NAMES = ("trunc_normal_", "trunc_normal_tf_", "variance_scaling_", "lecun_normal_")
ORIGINAL = {name: getattr(timm_init, name) for name in NAMES}
ORIGINAL_IDS = {id(f) for f in ORIGINAL.values()}


def _holders() -> set:
    """(module name, attribute) of every loaded module holding one of timm's
    initializers."""
    found = set()
    for module_name, module in list(sys.modules.items()):
        if module is None or module_name.startswith("fastinit"):
            continue
        try:
            items = list(vars(module).items())
        except TypeError:
            continue
        found.update((module_name, key) for key, value in items if id(value) in ORIGINAL_IDS)
    return found


def test_swapped_wherever_held_and_restored():
    before = _holders()
    assert ("timm.layers", "trunc_normal_tf_") in before
    assert ("timm.models.vision_transformer", "lecun_normal_") in before
    with fastinit.patched():
        assert _holders() == set(), "a module still holds timm's initializer"
    assert _holders() == before
    with pytest.raises(KeyError):
        with fastinit.patched():
            raise KeyError("boom")
    assert _holders() == before
    assert all(getattr(timm_init, n) is ORIGINAL[n] for n in NAMES)


N = 100_000
CASES = {
    "trunc_normal_(std=.02)": ("trunc_normal_", (), dict(std=0.02)),
    "trunc_normal_(mean=1, std=2, a=0, b=3)": ("trunc_normal_", (1.0, 2.0, 0.0, 3.0), {}),
    "trunc_normal_tf_(std=.02)": ("trunc_normal_tf_", (), dict(std=0.02)),
    "trunc_normal_tf_(mean=1, std=.5, a=-1, b=3)": ("trunc_normal_tf_", (1.0, 0.5, -1.0, 3.0), {}),
    "trunc_normal_tf_(std=-2)": ("trunc_normal_tf_", (0.5, -2.0, -0.5, 1.5), {}),
    **{f"variance_scaling_({mode}, {dist})": ("variance_scaling_", (2.0, mode, dist), {})
       for mode in ("fan_in", "fan_out", "fan_avg") for dist in ("truncated_normal", "normal", "uniform")},
    "lecun_normal_": ("lecun_normal_", (), {}),
}


def _draw(function, args, kwargs, seed):
    torch.manual_seed(seed)
    tensor = torch.empty(400, 25, 10)  # fan_in 250, fan_out 4000
    result = function(tensor, *args, **kwargs)
    return tensor, result


@pytest.mark.parametrize("case", CASES)
def test_distribution_and_result_are_timms(case):
    name, args, kwargs = CASES[case]
    theirs, their_result = _draw(ORIGINAL[name], args, kwargs, 0)
    with fastinit.patched(), OpLog() as log:
        ours, our_result = _draw(getattr(timm.layers, name), args, kwargs, 1)
    assert stock_random_ops(log.names) == [] and "erfinv_" not in " ".join(log.names)
    assert sum(n.startswith("fastinit::") for n in log.names) == 1, "one kernel call"
    assert (our_result is ours) if their_result is theirs else (our_result is None and their_result is None)
    p = scipy.stats.ks_2samp(theirs.double().flatten().numpy(), ours.double().flatten().numpy()).pvalue
    assert p > P_MIN, f"{case}: p = {p:.3g} against timm's own function"


def test_trunc_normal_tf_support_is_scaled_bounds():
    with fastinit.patched():
        x = timm.layers.trunc_normal_tf_(torch.empty(N), mean=1.0, std=0.5, a=-1.0, b=3.0)
    assert x.min() >= 0.5 and x.max() <= 2.5
    assert x.min() < 0.51 and x.max() > 2.49
    low, high = -1.0, 3.0
    reference = scipy.stats.truncnorm(low, high, loc=1.0, scale=0.5)
    assert scipy.stats.kstest(x.double().numpy(), reference.cdf).pvalue > P_MIN


def test_lecun_normal_std():
    with fastinit.patched():
        x = torch.empty(2000, 500)
        timm.layers.lecun_normal_(x)
    assert math.isclose(x.std().item(), math.sqrt(1 / 500), rel_tol=0.01)


ERROR_CASES = {
    "variance_scaling_(mode=bad)": lambda f: f["variance_scaling_"](torch.empty(4, 4), mode="fan_bad"),
    "variance_scaling_(distribution=bad)": lambda f: f["variance_scaling_"](torch.empty(4, 4), distribution="beta"),
    "variance_scaling_(1-dim)": lambda f: f["variance_scaling_"](torch.empty(4)),
    "lecun_normal_(1-dim)": lambda f: f["lecun_normal_"](torch.empty(4)),
    "trunc_normal_(std=0)": lambda f: f["trunc_normal_"](torch.empty(4), std=0.0),
    "variance_scaling_(zero fan)": lambda f: f["variance_scaling_"](torch.empty(4, 0)),
}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_errors_are_timms(case):
    x = torch.full((4, 4), 7.0)
    with pytest.raises(Exception) as theirs:
        ERROR_CASES[case](ORIGINAL)
    with fastinit.patched():
        swapped = {n: getattr(timm.layers, n) for n in NAMES}
        with pytest.raises(Exception) as ours:
            ERROR_CASES[case](swapped)
    assert type(ours.value) is type(theirs.value)
    if "mode=bad" in case:
        assert "variance_scaling_" in str(ours.value) and "fan_bad" in str(ours.value)
    else:
        assert str(ours.value).split(" (")[0] == str(theirs.value).split(" (")[0] or "std" in str(ours.value)
    assert torch.all(x == 7.0)


@pytest.mark.parametrize("name, kwargs", [("trunc_normal_", dict(mean=10.0, std=1.0)),
                                          ("trunc_normal_tf_", dict(a=3.0, b=4.0))])
def test_warnings_are_timms(name, kwargs):
    with pytest.warns(UserWarning, match="mean is more than 2 std") as theirs:
        ORIGINAL[name](torch.empty(100), **kwargs)
    with fastinit.patched(), pytest.warns(UserWarning, match="mean is more than 2 std") as ours:
        getattr(timm.layers, name)(torch.empty(100), **kwargs)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]


def test_no_warning_where_timm_gives_none():
    with fastinit.patched(), warnings.catch_warnings():
        warnings.simplefilter("error")
        timm.layers.trunc_normal_tf_(torch.empty(100), mean=5.0, std=0.1)  # the tf bounds are standardized


def test_meta_tensors_are_left_alone():
    with fastinit.patched():
        x = timm.layers.trunc_normal_tf_(torch.empty(3, 3, device="meta"), std=0.02)
        timm.layers.lecun_normal_(torch.empty(3, 3, device="meta"))
    assert x.is_meta


@pytest.mark.parametrize("name", ["vit_tiny_patch16_224", "convnext_atto", "swin_tiny_patch4_window7_224"])
def test_timm_model_builds_without_stock_random_ops(name):
    kwargs = dict(num_classes=10)
    if name.startswith("vit"):
        kwargs.update(img_size=32, patch_size=8, depth=2)
    with fastinit.patched(), OpLog() as log:
        timm.create_model(name, pretrained=False, **kwargs)
    assert stock_random_ops(log.names) == []
    assert any(n.startswith("fastinit::") for n in log.names)
