"""fastinit.init against torch.nn.init: names, signatures, errors, warnings,
return values, meta and zero-element tensors, parameters that require grad."""

import inspect
import re
import warnings

import pytest
import torch
import torch.nn.init as stock

import fastinit
import fastinit.init as fi

PUBLIC = list(stock.__all__)
RANDOM_INITS = [
    "uniform_",
    "normal_",
    "trunc_normal_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "sparse_",
]


def test_same_public_names():
    assert fi.__all__ == stock.__all__
    for name in PUBLIC + ["_calculate_fan_in_and_fan_out"]:
        assert callable(getattr(fi, name)), name
        assert getattr(fastinit, name) is getattr(fi, name), name


@pytest.mark.parametrize("name", PUBLIC + ["_calculate_fan_in_and_fan_out"])
def test_same_signature(name):
    ours = inspect.signature(getattr(fi, name))
    theirs = inspect.signature(getattr(stock, name))
    # str() compares names, kinds, defaults and annotations; the deprecated
    # aliases are annotated with ParamSpec/TypeVar objects that compare by
    # identity, so == alone cannot hold for them.
    assert str(ours) == str(theirs)
    assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
        (p.name, p.kind, p.default) for p in theirs.parameters.values()
    ]


def _outcome(fn):
    """('ok', None) or (exception class, message) of calling fn."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            return type(e), str(e)
    return "ok", None


t34 = lambda: torch.zeros(3, 4)  # noqa: E731

# (description, function name, tensor factory, args, kwargs, pattern of our message)
ERROR_CASES = [
    ("uniform a > b", "uniform_", t34, (2.0, 1.0), {}, r"uniform_.*a=2.*b=1"),
    ("normal std < 0", "normal_", t34, (0.0, -1.0), {}, r"normal_.*std -1"),
    ("normal std nan", "normal_", t34, (0.0, float("nan")), {}, r"normal_.*std nan"),
    ("trunc_normal std = 0", "trunc_normal_", t34, (0.0, 0.0), {}, r"division by zero"),
    ("trunc_normal a > b", "trunc_normal_", t34, (0.0, 1.0, 2.0, -2.0), {}, r"a=2.*b=-2"),
    ("uniform int64", "uniform_", lambda: torch.zeros(3, dtype=torch.long), (), {}, r"uniform_: unsupported dtype torch.int64"),
    ("normal int64", "normal_", lambda: torch.zeros(3, dtype=torch.long), (), {}, r"normal_: unsupported dtype torch.int64"),
    ("uniform bool", "uniform_", lambda: torch.zeros(3, dtype=torch.bool), (), {}, r"uniform_: unsupported dtype torch.bool"),
    ("kaiming 1-D", "kaiming_uniform_", lambda: torch.zeros(3), (), {}, r"fewer than 2 dimensions"),
    ("kaiming_normal 1-D", "kaiming_normal_", lambda: torch.zeros(3), (), {}, r"fewer than 2 dimensions"),
    ("xavier 1-D", "xavier_uniform_", lambda: torch.zeros(3), (), {}, r"fewer than 2 dimensions"),
    ("xavier_normal 0-D", "xavier_normal_", lambda: torch.tensor(1.0), (), {}, r"fewer than 2 dimensions"),
    ("kaiming bad mode", "kaiming_uniform_", t34, (), {"mode": "fan_avg"}, r"Mode fan_avg not supported"),
    ("kaiming_normal bad mode", "kaiming_normal_", t34, (), {"mode": "x"}, r"Mode x not supported"),
    ("kaiming bad nonlinearity", "kaiming_uniform_", t34, (), {"nonlinearity": "gelu"}, r"Unsupported nonlinearity gelu"),
    ("kaiming bool slope", "kaiming_normal_", t34, (True,), {}, r"negative_slope True not a valid number"),
    ("xavier (0, 0)", "xavier_uniform_", lambda: torch.zeros(0, 0), (), {}, r"division by zero"),
    ("eye_ 3-D", "eye_", lambda: torch.zeros(2, 2, 2), (), {}, r"Only tensors with 2 dimensions"),
    ("eye_ 1-D", "eye_", lambda: torch.zeros(2), (), {}, r"Only tensors with 2 dimensions"),
    ("dirac_ 2-D", "dirac_", lambda: torch.zeros(2, 2), (), {}, r"3, 4, or 5 dimensions"),
    ("dirac_ 1-D", "dirac_", lambda: torch.zeros(2), (), {}, r"3, 4, or 5 dimensions"),
    ("dirac_ 6-D", "dirac_", lambda: torch.zeros(*[2] * 6), (), {}, r"3, 4, or 5 dimensions"),
    ("dirac_ groups", "dirac_", lambda: torch.zeros(3, 2, 2), (), {"groups": 2}, r"divisible by groups"),
    ("sparse_ 3-D", "sparse_", lambda: torch.zeros(2, 2, 2), (0.1,), {}, r"Only tensors with 2 dimensions"),
    ("sparse_ 1-D", "sparse_", lambda: torch.zeros(2), (0.1,), {}, r"Only tensors with 2 dimensions"),
    ("orthogonal_ 1-D", "orthogonal_", lambda: torch.zeros(3), (), {}, r"2 or more dimensions"),
    ("expanded uniform", "uniform_", lambda: torch.zeros(3, 1).expand(3, 4), (), {}, r"more than one element of the written-to tensor"),
    ("expanded normal", "normal_", lambda: torch.zeros(3, 1).expand(3, 4), (), {}, r"more than one element of the written-to tensor"),
    ("expanded kaiming", "kaiming_uniform_", lambda: torch.zeros(3, 1).expand(3, 4), (), {}, r"more than one element of the written-to tensor"),
]


@pytest.mark.parametrize(
    "name,factory,args,kwargs,pattern",
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_error_parity(name, factory, args, kwargs, pattern):
    stock_kind, _ = _outcome(lambda: getattr(stock, name)(factory(), *args, **kwargs))
    assert stock_kind != "ok", "torch accepts this input; the case is wrong"
    tensor = factory()
    before = tensor.clone()
    kind, message = _outcome(lambda: getattr(fi, name)(tensor, *args, **kwargs))
    assert kind is stock_kind
    assert re.search(pattern, message), message
    assert torch.equal(tensor, before), "bad input must leave the tensor untouched"


def test_errors_name_the_public_function():
    tensor = torch.zeros(4, 4, dtype=torch.int32)
    with pytest.raises(NotImplementedError, match=r"fastinit::kaiming_normal_: unsupported dtype torch.int32"):
        fi.kaiming_normal_(tensor)


@pytest.mark.parametrize(
    "param,pattern", [(True, "True"), ("0.2", "0.2"), ([0.1], r"\[0.1\]")]
)
def test_calculate_gain_errors(param, pattern):
    with pytest.raises(ValueError, match=f"negative_slope {pattern} not a valid number"):
        fi.calculate_gain("leaky_relu", param)
    with pytest.raises(ValueError, match="Unsupported nonlinearity softplus"):
        fi.calculate_gain("softplus")


@pytest.mark.parametrize(
    "nonlinearity,param",
    [
        ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None),
        ("conv_transpose1d", None), ("conv_transpose2d", None),
        ("conv_transpose3d", None), ("sigmoid", None), ("tanh", None),
        ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
        ("leaky_relu", 3), ("selu", None),
    ],
)
def test_calculate_gain_values(nonlinearity, param):
    ours = fi.calculate_gain(nonlinearity, param)
    theirs = stock.calculate_gain(nonlinearity, param)
    assert ours == theirs and type(ours) is type(theirs)


@pytest.mark.parametrize("shape", [(3, 4), (5, 2, 3), (2, 3, 4, 5), (7, 1, 1)])
def test_fan_helper(shape):
    tensor = torch.empty(shape)
    assert fi._calculate_fan_in_and_fan_out(tensor) == stock._calculate_fan_in_and_fan_out(tensor)


def test_sparse_rejects_sparsity_outside_unit_interval():
    # A deliberate difference: torch silently zeroes all but one row for a
    # negative sparsity; fastinit refuses it.
    tensor = torch.zeros(4, 3)
    for sparsity in (-0.5, 1.5, float("nan")):
        with pytest.raises(ValueError, match="sparse_ expects 0 <= sparsity <= 1"):
            fi.sparse_(tensor, sparsity)
    assert torch.equal(tensor, torch.zeros(4, 3))


# torch counts these as floating point; fastinit fills none of them.
FLOAT8 = [getattr(torch, name) for name in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz")
          if hasattr(torch, name)]


@pytest.mark.parametrize("dtype", [torch.complex64, torch.int32, torch.uint8, *FLOAT8], ids=str)
@pytest.mark.parametrize("name", RANDOM_INITS)
def test_unfilled_dtypes_rejected_by_name_and_left_untouched(name, dtype):
    tensor = torch.zeros(4, 4, dtype=dtype)
    args = (0.5,) if name == "sparse_" else ()
    message = f"fastinit::{name}: unsupported dtype {dtype}; expected float32, float64, float16 or bfloat16"
    with pytest.raises(NotImplementedError, match=f"^{message}"):
        getattr(fi, name)(tensor, *args)
    assert torch.equal(tensor.view(torch.uint8), torch.zeros(4, 4, dtype=dtype).view(torch.uint8))
    assert tensor._version == 0


@pytest.mark.parametrize("dtype", FLOAT8, ids=str)
def test_float8_is_refused_by_the_ops_and_mixtures_too(dtype):
    from fastinit._ops import FILLED_DTYPES

    assert FILLED_DTYPES == {torch.float32, torch.float64, torch.float16, torch.bfloat16}
    tensor = torch.zeros(8, dtype=dtype)
    with pytest.raises(NotImplementedError, match=f"^fastinit::uniform_: unsupported dtype {dtype};"):
        torch.ops.fastinit.uniform_([tensor], [1], [0.0], [1.0])
    with pytest.raises(NotImplementedError, match=f"^fastinit::mixture_: unsupported dtype {dtype};"):
        fastinit.mixture_(tensor, [(1.0, fastinit.Normal())])
    assert tensor._version == 0 and not tensor.view(torch.uint8).any()


def _call(name, tensor, module=fi):
    args = {"sparse_": (0.3,), "constant_": (0.5,)}.get(name, ())
    return getattr(module, name)(tensor, *args)


@pytest.mark.parametrize("name", [n for n in PUBLIC if n.endswith("_")])
def test_returns_the_tensor(name):
    tensor = torch.empty(6, 4, 3) if name == "dirac_" else torch.empty(6, 4)
    assert _call(name, tensor) is tensor


@pytest.mark.parametrize("name", [n for n in PUBLIC if n.endswith("_")])
def test_parameter_requiring_grad(name):
    param = torch.nn.Parameter(torch.empty(6, 4, 3) if name == "dirac_" else torch.empty(6, 4))
    result = _call(name, param)
    assert result is param
    assert param.requires_grad and param.is_leaf and param.grad_fn is None


@pytest.mark.parametrize("name", [n for n in PUBLIC if n.endswith("_")])
def test_version_counter_is_bumped(name):
    """Like torch's in-place ops: autograd's check of saved tensors relies on it."""
    tensor = torch.empty(6, 4, 3) if name == "dirac_" else torch.empty(6, 4)
    before = tensor._version
    _call(name, tensor)
    assert tensor._version > before


@pytest.mark.parametrize("name", RANDOM_INITS)
def test_backward_through_an_overwritten_tensor_is_refused(name):
    for module in (stock, fi):
        weight = torch.ones(6, 4, requires_grad=True)
        loss = (weight * weight).sum()  # saves weight for backward
        with torch.no_grad():
            _call(name, weight, module=module)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()


@pytest.mark.parametrize("name", RANDOM_INITS)
def test_inference_tensor_outside_inference_mode(name):
    for module in (stock, fi):
        with torch.inference_mode():
            tensor = torch.empty(6, 4)
        with pytest.raises(RuntimeError, match="Inplace update to inference tensor outside InferenceMode"):
            _call(name, tensor, module=module)
    with torch.inference_mode():  # inside it, both fill
        tensor = torch.zeros(6, 4)
        _call(name, tensor)
    assert bool((tensor != 0).any())


@pytest.mark.parametrize("name", [n for n in PUBLIC if n.endswith("_")])
def test_meta_tensors_are_a_no_op(name):
    tensor = torch.empty(6, 4, 3, device="meta") if name == "dirac_" else torch.empty(6, 4, device="meta")
    state = torch.get_rng_state()
    assert _call(name, tensor) is tensor
    assert tensor.is_meta
    assert torch.equal(torch.get_rng_state(), state), "meta tensors draw no seed"


@pytest.mark.parametrize("name", [n for n in PUBLIC if n.endswith("_") and n not in ("eye_", "dirac_", "sparse_")])
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 3, 2)])
def test_zero_element_tensors(name, shape):
    def outcome(module):
        tensor = torch.empty(shape)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            kind, _ = _outcome(lambda: getattr(module, name)(tensor, *({"constant_": (0.5,)}.get(name, ()))))
            if kind == "ok":
                result = getattr(module, name)(tensor, *({"constant_": (0.5,)}.get(name, ())))
                assert result is tensor
        return kind, [str(w.message) for w in caught]

    assert outcome(fi) == outcome(stock)


def test_zero_element_warning_points_at_caller():
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op") as caught:
        fi.kaiming_uniform_(torch.empty(0, 3))
    assert caught[0].filename == __file__
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        fi.kaiming_normal_(torch.empty(3, 0))


def test_trunc_normal_far_mean_warning():
    with pytest.warns(UserWarning, match=r"mean is more than 2 std from \[a, b\]"):
        fi.trunc_normal_(torch.empty(10), mean=0.0, std=1.0, a=5.0, b=6.0)


@pytest.mark.parametrize(
    "old,args",
    [
        ("uniform", ()), ("normal", ()), ("constant", (0.3,)), ("eye", ()),
        ("xavier_uniform", ()), ("xavier_normal", ()), ("kaiming_uniform", ()),
        ("kaiming_normal", ()), ("orthogonal", ()), ("sparse", (0.5,)),
    ],
)
def test_deprecated_aliases(old, args):
    tensor = torch.empty(4, 4)
    message = f"`nn.init.{old}` is now deprecated in favor of `nn.init.{old}_`."
    with pytest.warns(FutureWarning, match=re.escape(message)):
        assert getattr(fi, old)(tensor, *args) is tensor
    assert getattr(fi, old).__name__ == getattr(stock, old).__name__


def test_deprecated_dirac():
    tensor = torch.empty(4, 4, 3)
    with pytest.warns(FutureWarning, match="nn.init.dirac"):
        fi.dirac(tensor)
    assert torch.equal(tensor, stock.dirac_(torch.empty(4, 4, 3)))


class _Tagged(torch.Tensor):
    """A subclass that records the __torch_function__ calls it sees."""

    calls: list = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        cls.calls.append(getattr(func, "__name__", str(func)))
        return super().__torch_function__(func, types, args, kwargs or {})


@pytest.mark.parametrize("name", ["uniform_", "normal_", "constant_", "kaiming_uniform_"])
def test_torch_function_override(name):
    tensor = torch.empty(3, 4).as_subclass(_Tagged)
    _Tagged.calls.clear()
    _call(name, tensor)
    assert _Tagged.calls and _Tagged.calls[0] == name


@pytest.mark.parametrize(
    "shape,groups", [((4, 4, 3), 1), ((6, 3, 3, 3), 2), ((2, 5, 3, 3, 3), 1), ((6, 2, 5), 3), ((3, 7, 4, 4), 1)]
)
def test_dirac_matches_torch(shape, groups):
    assert torch.equal(fi.dirac_(torch.randn(shape), groups), stock.dirac_(torch.randn(shape), groups))


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (1, 7)])
def test_eye_matches_torch(shape):
    assert torch.equal(fi.eye_(torch.randn(shape)), stock.eye_(torch.randn(shape)))
    transposed = torch.randn(shape[::-1]).t()
    assert torch.equal(fi.eye_(transposed), torch.eye(*shape))


@pytest.mark.parametrize("val", [0.0, 1.5, -3])
def test_constant_ones_zeros(val):
    assert torch.equal(fi.constant_(torch.empty(3, 4), val), torch.full((3, 4), float(val)))
    assert torch.equal(fi.ones_(torch.empty(3, 4)), torch.ones(3, 4))
    assert torch.equal(fi.zeros_(torch.empty(3, 4)), torch.zeros(3, 4))


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64, torch.uint8])
def test_dtype_check_has_one_message_in_python_and_cpp(dtype):
    # fills.require_floating is the traceable twin of C++'s check_floating.
    from fastinit import _C, fills

    tensor = torch.zeros(2, dtype=dtype)
    messages = []
    for check in (fills.require_floating, _C.check_floating):
        with pytest.raises(NotImplementedError) as error:
            check("xavier_uniform_", tensor)
        messages.append(str(error.value).splitlines()[0])
    assert messages[0] == messages[1] == (
        f"fastinit::xavier_uniform_: unsupported dtype {dtype}; expected float32, float64, float16 or bfloat16")
