"""patched() answers the random fills model code makes outside torch.nn.init
(tensor.normal_/uniform_, torch.randn/rand/randn_like/rand_like/normal):
real models built from configs run no stock random op, with the
distributions stock construction gives; arguments and errors are torch's;
the mode is thread-local and gone after exit."""

import threading

import pytest
import scipy.stats
import torch
from torch import nn

import fastinit
from conftest import assert_bitwise_equal
from dispatch_log import OpLog, random_ops_while_building, stock_random_ops
from model_compare import assert_like_stock, named_tensors
from stats import assert_fits


# ----------------------------------------------------------- real models
def _transformers_vit():
    t = pytest.importorskip("transformers")
    return t.ViTModel(t.ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                                  image_size=32, patch_size=8))


def _transformers_dinov2():
    t = pytest.importorskip("transformers")
    return t.Dinov2Model(t.Dinov2Config(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                                        patch_size=8))


def _transformers_clip():
    t = pytest.importorskip("transformers")
    small = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
    config = t.CLIPConfig(text_config=dict(small, vocab_size=500, bos_token_id=0, eos_token_id=1, pad_token_id=1), vision_config=dict(small, image_size=32, patch_size=8),
                          projection_dim=32)
    return t.CLIPModel(config)


def _transformers_mamba():
    t = pytest.importorskip("transformers")
    return t.MambaModel(t.MambaConfig(hidden_size=64, num_hidden_layers=2, vocab_size=500, state_size=8))


def _torchvision_vit():
    models = pytest.importorskip("torchvision.models")
    return models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=64, mlp_dim=128)


def _timm(name, **kwargs):
    def build():
        timm = pytest.importorskip("timm")
        return timm.create_model(name, pretrained=False, **kwargs)

    return build


SMALL_VIT = dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=2, num_classes=10)
MODELS = {
    "transformers-vit": _transformers_vit,
    "transformers-dinov2": _transformers_dinov2,
    "transformers-clip": _transformers_clip,
    "transformers-mamba": _transformers_mamba,
    "torchvision-vit_b_16-shape": _torchvision_vit,
    "timm-regnety_002": _timm("regnety_002", num_classes=10),
    "timm-swin": _timm("swin_tiny_patch4_window7_224", img_size=64, embed_dim=32, depths=(1, 1, 1, 1),
                       num_heads=(1, 2, 2, 4), window_size=2, num_classes=10),
    "timm-beit": _timm("beit_base_patch16_224", **SMALL_VIT),
    "timm-eva02": _timm("eva02_tiny_patch14_224", **SMALL_VIT),
    "timm-levit": _timm("levit_128s", num_classes=10),
}


@pytest.mark.parametrize("name", MODELS)
def test_model_builds_without_stock_random_fills(name):
    stock_random, ours, _ = random_ops_while_building(MODELS[name])
    assert stock_random == [], f"{name}: stock random ops {sorted(set(stock_random))}"
    assert ours


@pytest.mark.parametrize("name", MODELS)
def test_model_tensors_have_stock_distributions(name):
    """Per tensor: deterministic ones (equal across two stock seeds) equal
    stock's; random ones pass a two-sample KS test against stock's."""
    with fastinit.patched():
        torch.manual_seed(3)
        ours = named_tensors(MODELS[name]())
    assert_like_stock(MODELS[name], ours, name)


# ---------------------------------------------------- mode and restoration
def _random_fills_active() -> bool:
    from fastinit.random_fills import RandomFills

    return any(isinstance(m, RandomFills) for m in torch.overrides._get_current_function_mode_stack())


def _randn_is_ours() -> bool:
    with OpLog() as log:
        torch.randn(8)
    return any(n.startswith("fastinit::") for n in log.names) and not stock_random_ops(log.names)


def test_mode_on_inside_nested_and_gone_after_exit():
    assert not _random_fills_active() and not _randn_is_ours()
    with fastinit.patched():
        assert _randn_is_ours()
        with fastinit.patched():
            assert _randn_is_ours()
        assert _randn_is_ours(), "leaving the inner block must keep the outer one"
    assert not _random_fills_active() and not _randn_is_ours()


def test_mode_gone_after_an_exception():
    with pytest.raises(KeyError):
        with fastinit.patched():
            torch.randn(3)
            raise KeyError("boom")
    assert not _random_fills_active() and not _randn_is_ours()
    with pytest.raises(RuntimeError):
        with fastinit.patched():
            torch.randn(-1)  # torch's own error, raised through the mode
    assert not _random_fills_active()


def test_stacks_with_the_meta_device_both_ways():
    with torch.device("meta"), fastinit.patched():
        a = nn.Parameter(torch.randn(4, 4))
    with fastinit.patched(), torch.device("meta"):
        b = torch.rand(4, 4)
        c = torch.empty(3).normal_()
    assert a.is_meta and b.is_meta and c.is_meta


def test_other_threads_keep_torchs_fills():
    """A thread drawing torch.randn in a loop while this one builds a model
    under patched() gets torch's ops, never fastinit's."""
    started, done = threading.Event(), threading.Event()
    names, errors = [], []

    def draw():
        try:
            with OpLog() as log:
                started.set()
                while not done.is_set():
                    torch.randn(16)
            names.extend(log.names)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    thread = threading.Thread(target=draw)
    thread.start()
    started.wait()
    stock_random, ours, _ = random_ops_while_building(
        lambda: nn.Sequential(*[nn.Linear(64, 64) for _ in range(20)], nn.Embedding(100, 64)))
    done.set()
    thread.join()
    assert not errors and stock_random == [] and ours
    assert stock_random_ops(names) and not any(n.startswith("fastinit::") for n in names)


# --------------------------------------------- arguments and errors: torch's
def _x():
    return torch.empty(3, 5)


CALLS = {  # each run with stock torch and under patched(); the result must match in everything but values
    "randn(*ints)": lambda: torch.randn(2, 3),
    "randn(tuple)": lambda: torch.randn((2, 3)),
    "randn(list)": lambda: torch.randn([2, 3]),
    "randn(size=)": lambda: torch.randn(size=(2, 3)),
    "randn(())": lambda: torch.randn(()),
    "randn(0)": lambda: torch.randn(0),
    "randn(float64)": lambda: torch.randn(4, dtype=torch.float64),
    "randn(bfloat16)": lambda: torch.randn(4, dtype=torch.bfloat16),
    "randn(float16)": lambda: torch.randn(4, dtype=torch.float16),
    "randn(requires_grad)": lambda: torch.randn(4, requires_grad=True),
    "randn(device=cpu)": lambda: torch.randn(4, device="cpu"),
    "randn(out=)": lambda: torch.randn(2, 3, out=torch.empty(0)),
    "randn(out=float64)": lambda: torch.randn(5, out=torch.empty(1, dtype=torch.float64)),
    "rand(*ints)": lambda: torch.rand(3, 4),
    "rand(generator)": lambda: torch.rand(3, generator=torch.Generator().manual_seed(0)),
    "rand(requires_grad)": lambda: torch.rand(2, 2, requires_grad=True),
    "randn_like": lambda: torch.randn_like(_x()),
    "randn_like(dtype)": lambda: torch.randn_like(_x(), dtype=torch.float64),
    "rand_like(channels_last)": lambda: torch.rand_like(torch.empty(2, 3, 4, 5).to(memory_format=torch.channels_last)),
    "rand_like(requires_grad)": lambda: torch.rand_like(_x(), requires_grad=True),
    "normal(float, float, size)": lambda: torch.normal(2.0, 3.0, (4, 5)),
    "normal(size=)": lambda: torch.normal(mean=0.0, std=1.0, size=(3,)),
    "normal(float, float, size, dtype)": lambda: torch.normal(0.0, 1.0, (3,), dtype=torch.float64),
    "normal(tensor, tensor)": lambda: torch.normal(torch.zeros(3, 1), torch.ones(1, 4)),
    "normal(tensor)": lambda: torch.normal(torch.zeros(3)),
    "normal(tensor, float)": lambda: torch.normal(torch.zeros(3, dtype=torch.float64), 2.0),
    "normal(float, tensor)": lambda: torch.normal(1.0, torch.ones(2, 2)),
    "normal(tensor, tensor, out=)": lambda: torch.normal(torch.zeros(3), torch.ones(3), out=torch.empty(3)),
    "tensor.normal_()": lambda: _x().normal_(),
    "tensor.normal_(mean, std)": lambda: _x().normal_(1.0, 0.5),
    "tensor.normal_(std=)": lambda: _x().normal_(std=0.02),
    "tensor.uniform_(a, b)": lambda: _x().uniform_(-2, 3),
    "tensor.uniform_(from=, to=)": lambda: _x().uniform_(**{"from": 1.0, "to": 2.0}),
    "tensor.t().normal_()": lambda: _x().t().normal_(),
    "param.data.normal_()": lambda: nn.Parameter(_x()).data.normal_(0, 0.02),
    "randn(complex) passes through": lambda: torch.randn(3, dtype=torch.complex64),
    "randint passes through": lambda: torch.randint(0, 10, (3,)),
    "rand(requires_grad, out=) passes through": lambda: torch.rand(2, requires_grad=True, out=torch.empty(2)),
}

ERRORS = {
    "randn(-1)": lambda: torch.randn(-1),
    "randn(long)": lambda: torch.randn(2, dtype=torch.long),
    "randn(memory_format)": lambda: torch.randn(2, memory_format=torch.contiguous_format),
    "randn(str)": lambda: torch.randn("a"),
    "rand(pin_memory)": lambda: torch.rand(2, pin_memory=True),
    "randn_like(int)": lambda: torch.randn_like(torch.zeros(2, dtype=torch.long)),
    "normal(float, -1, size)": lambda: torch.normal(0.0, -1.0, (2,)),
    "normal(float, float)": lambda: torch.normal(0.0, 1.0),
    "normal(tensor, -tensor)": lambda: torch.normal(torch.zeros(3), -torch.ones(3)),
    "normal(tensor, nan)": lambda: torch.normal(torch.zeros(3), float("nan")),
    "tensor.normal_(std=-1)": lambda: _x().normal_(std=-1.0),
    "tensor.normal_(extra)": lambda: _x().normal_(0, 1, 2),
    "tensor.uniform_(1, 0)": lambda: _x().uniform_(1.0, 0.0),
    "half.uniform_(huge)": lambda: torch.empty(2, dtype=torch.float16).uniform_(0, 1e6),
    "long.normal_()": lambda: torch.zeros(3, dtype=torch.long).normal_(),
    "leaf.normal_() under grad": lambda: torch.zeros(3, requires_grad=True).normal_(),
}


def _describe(value):
    if isinstance(value, torch.Tensor):
        return (value.shape, value.dtype, value.device, value.layout, value.requires_grad, value.stride(), value.is_leaf)
    return value


@pytest.mark.parametrize("case", CALLS)
def test_calls_return_what_torch_returns(case):
    expected = _describe(CALLS[case]())
    with fastinit.patched(), OpLog() as log:
        actual = CALLS[case]()
    assert _describe(actual) == expected
    if "passes through" not in case:
        assert not stock_random_ops(log.names), f"stock random ops {stock_random_ops(log.names)}"


@pytest.mark.parametrize("case", ERRORS)
def test_errors_are_torchs(case):
    with pytest.raises(Exception) as stock_error:
        ERRORS[case]()
    with fastinit.patched():
        with pytest.raises(Exception) as our_error:
            ERRORS[case]()
    assert type(our_error.value) is type(stock_error.value)
    assert str(our_error.value) == str(stock_error.value)


def test_refused_fill_leaves_the_tensor_untouched():
    x = torch.full((4,), 7.0)
    with fastinit.patched(), pytest.raises(RuntimeError):
        x.uniform_(1.0, 0.0)
    assert torch.all(x == 7.0)


def test_out_is_resized_filled_and_returned():
    out = torch.empty(1)
    with fastinit.patched():
        result = torch.randn(2, 3, out=out)
    assert result is out and out.shape == (2, 3) and torch.isfinite(out).all()


def test_generator_and_manual_seed_give_fastinits_stream():
    with fastinit.patched():
        a = torch.randn(1000, generator=torch.Generator().manual_seed(5))
        b = torch.randn(1000, generator=torch.Generator().manual_seed(5))
        torch.manual_seed(5)
        c = torch.empty(1000).normal_()
        torch.manual_seed(5)
        d = torch.rand(1000)
    assert_bitwise_equal(a, b)
    assert_bitwise_equal(a, fastinit.normal_(torch.empty(1000), generator=torch.Generator().manual_seed(5)))
    assert_bitwise_equal(c, a)
    assert_bitwise_equal(d, fastinit.uniform_(torch.empty(1000), generator=torch.Generator().manual_seed(5)))


def test_stock_init_functions_held_elsewhere_run_as_fastinits():
    stock = torch.nn.init.xavier_normal_
    hidden = {"fn": stock}  # e.g. a closure or a table patch() does not scan
    with fastinit.patched(), OpLog() as log:
        hidden["fn"](torch.empty(64, 64))
    assert not stock_random_ops(log.names) and "fastinit::normal_" in log.names


N = 200_000


@pytest.mark.parametrize("draw, reference", [
    (lambda: torch.randn(N), scipy.stats.norm()),
    (lambda: torch.rand(N), scipy.stats.uniform()),
    (lambda: torch.randn_like(torch.empty(N, dtype=torch.float64)), scipy.stats.norm()),
    (lambda: torch.rand_like(torch.empty(N)), scipy.stats.uniform()),
    (lambda: torch.normal(2.0, 3.0, (N,)), scipy.stats.norm(2, 3)),
    (lambda: torch.normal(torch.full((N,), -1.0), 0.5), scipy.stats.norm(-1, 0.5)),
    (lambda: torch.normal(torch.full((N,), 1.0), torch.full((N,), 2.0)), scipy.stats.norm(1, 2)),
    (lambda: torch.normal(3.0, torch.full((N,), 0.25)), scipy.stats.norm(3, 0.25)),
    (lambda: torch.empty(N).normal_(0.5, 0.02), scipy.stats.norm(0.5, 0.02)),
    (lambda: torch.empty(N).uniform_(-1, 2), scipy.stats.uniform(-1, 3)),
], ids=["randn", "rand", "randn_like", "rand_like", "normal(float)", "normal(tensor, float)",
        "normal(tensor, tensor)", "normal(float, tensor)", "normal_", "uniform_"])
def test_distributions(draw, reference):
    torch.manual_seed(11)
    with fastinit.patched(), OpLog() as log:
        samples = draw()
    assert not stock_random_ops(log.names)
    assert_fits(samples, reference)
