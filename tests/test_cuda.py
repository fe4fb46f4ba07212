"""The CUDA backend. Registration is checked wherever the build includes
CUDA; everything else needs a GPU and skips cleanly without one."""

import math

import pytest
import scipy.stats
import torch

import fastinit
import fastinit.init as fi
from conftest import FLOAT_DTYPES, assert_bitwise_equal
from fastinit import _C
from fastinit._ops import ops
from stats import assert_fits

OPS = ["uniform_", "normal_", "trunc_normal_", "sparse_", "mixture_", "orthogonal_from_"]


@pytest.mark.skipif(not _C.BUILT_WITH_CUDA, reason="this build of fastinit has no CUDA kernels (FASTINIT_CUDA=0 or no CUDA toolkit)")
@pytest.mark.parametrize("name", OPS)
def test_every_op_has_a_cuda_kernel(name):
    assert torch._C._dispatch_has_kernel_for_dispatch_key(f"fastinit::{name}", "CUDA")


needs_gpu = pytest.mark.skipif(
    not (_C.BUILT_WITH_CUDA and torch.cuda.is_available()), reason="needs a CUDA build of fastinit and a GPU"
)

CALLS = {
    "uniform_": lambda t, g: fi.uniform_(t, -2.0, 3.0, generator=g),
    "normal_": lambda t, g: fi.normal_(t, 0.5, 2.0, generator=g),
    "trunc_normal_": lambda t, g: fi.trunc_normal_(t, 0.1, 1.0, -1.5, 2.0, generator=g),
    "trunc_normal_tail": lambda t, g: fi.trunc_normal_(t, 0.0, 1.0, 3.0, 4.0, generator=g),
    "kaiming_uniform_": lambda t, g: fi.kaiming_uniform_(t, a=math.sqrt(5), generator=g),
    "xavier_normal_": lambda t, g: fi.xavier_normal_(t, generator=g),
    "sparse_": lambda t, g: fi.sparse_(t, 0.3, generator=g),
    "mixture_": lambda t, g: fastinit.mixture_(t, [(0.5, fastinit.Normal(0, 1)), (0.5, fastinit.Uniform(2, 3))], generator=g),
}


def _fill(name, tensor, seed=17):
    return CALLS[name](tensor, torch.Generator().manual_seed(seed))


@needs_gpu
@pytest.mark.filterwarnings("ignore:mean is more than 2 std")
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", CALLS)
def test_cuda_equals_cpu(name, dtype):
    cpu = _fill(name, torch.empty(257, 131, dtype=dtype))
    gpu = _fill(name, torch.empty(257, 131, dtype=dtype, device="cuda")).cpu()
    exact = dtype != torch.float64 or name in ("uniform_", "kaiming_uniform_", "mixture_")
    if exact:  # float32 math is the same IEEE operations on both devices
        assert_bitwise_equal(gpu, cpu)
    else:  # float64 normals use each device's libm
        torch.testing.assert_close(gpu, cpu, rtol=1e-14, atol=1e-14)


@needs_gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_cuda_statistics(dtype):
    torch.manual_seed(3)
    x = fi.normal_(torch.empty(200_000, dtype=dtype, device="cuda"), 1.0, 2.0).cpu()
    assert_fits(x, scipy.stats.norm(loc=1.0, scale=2.0))
    y = fi.trunc_normal_(torch.empty(200_000, dtype=dtype, device="cuda"), 0.0, 1.0, 3.0, math.inf).cpu()
    assert_fits(y, scipy.stats.truncnorm(3.0, math.inf))


@needs_gpu
def test_cuda_non_contiguous_and_batched():
    expected = _fill("normal_", torch.empty(64, 48, device="cuda"))
    view = torch.empty(48, 64, device="cuda").t()
    assert_bitwise_equal(_fill("normal_", view), expected)
    tensors = [torch.empty(5, 7, device="cuda"), torch.empty(3, 100, dtype=torch.bfloat16, device="cuda")]
    ops.uniform_(tensors, [1, 2], [0.0, -1.0], [1.0, 1.0])
    for i, t in enumerate(tensors):
        single = torch.empty_like(t)
        ops.uniform_([single], [i + 1], [[0.0, -1.0][i]], [1.0])
        assert_bitwise_equal(t, single)


@needs_gpu
@pytest.mark.parametrize("name", ["uniform_", "normal_", "trunc_normal_"])
def test_cuda_opcheck(name):
    tensors = [torch.empty(8, 5, device="cuda"), torch.empty(6, 9, dtype=torch.float64, device="cuda").t()]
    params = {"uniform_": ([0.0, 1.0], [1.0, 2.0]), "normal_": ([0.0, 1.0], [1.0, 2.0]),
              "trunc_normal_": ([0.0, 0.0], [1.0, 1.0], [-2.0, 1.0], [2.0, 3.0])}[name]
    torch.library.opcheck(getattr(ops, name), (tensors, [1, 2], *params))


@needs_gpu
def test_cuda_graph_capture_is_refused():
    tensor = torch.empty(1024, device="cuda")
    graph = torch.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match="cannot be captured in a CUDA graph"):
        with torch.cuda.graph(graph):
            fi.normal_(tensor)


@needs_gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", ["uniform_", "normal_", "trunc_normal_"])
def test_cuda_blocks_equal_cpu_blocks(name, dtype):
    """Note [shard windows] on the device: blocks at unaligned offsets, also
    into a transposed destination, equal the CPU's (float32 bit for bit)."""
    params = {"uniform_": ([-1.0], [2.0]), "normal_": ([0.5], [2.0]),
              "trunc_normal_": ([0.0], [1.0], [-0.3], [0.2])}[name]
    op = getattr(ops, name)
    for offsets, sizes in [([1, 3], [5, 7]), ([0, 5], [9, 1]), ([2, 0], [3, 131])]:
        windows = {"global_shapes": [11, 131], "offsets": offsets}
        cpu = torch.empty(sizes, dtype=dtype)
        op([cpu], [5], *params, **windows)
        gpu = torch.empty(sizes[::-1], dtype=dtype, device="cuda").t()
        op([gpu], [5], *params, **windows)
        if dtype == torch.float64 and name != "uniform_":
            torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-14, atol=1e-14)
        else:
            assert_bitwise_equal(gpu.cpu(), cpu)


@needs_gpu
@pytest.mark.parametrize("first", ["cpu", "cuda"])
def test_mixed_devices_in_one_call_raise_a_clear_error(first):
    cpu, cuda = torch.full((4,), 7.0), torch.full((4,), 7.0, device="cuda")
    tensors = [cpu, cuda] if first == "cpu" else [cuda, cpu]
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        ops.uniform_(tensors, [1, 2], [0.0, 0.0], [1.0, 1.0])
    assert torch.all(cpu == 7.0) and torch.all(cuda.cpu() == 7.0)


# ---------------------------------------------------------------------------
# Bit identity with the CPU where the launches differ most (multi-tensor
# tables, vector-store alignment, windows far into a tensor, layouts,
# mixtures): the cases the first GPU run must confirm. Each body takes the
# device so that it also runs on the CPU against itself (test code checked
# without a GPU: test_gpu_cases_run_on_the_cpu).
SIZES = [1, 3, 4095, 4096, 4097, 100003]
SEEDED = {
    "uniform_": ([-1.0], [2.0]),
    "normal_": ([0.5], [2.0]),
    "trunc_normal_": ([0.0], [1.0], [-0.3], [0.2]),
}


def _assert_same(gpu, cpu):
    if gpu.dtype == torch.float64:
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-14, atol=1e-14)
    else:
        assert_bitwise_equal(gpu.cpu(), cpu)


def _many_tensors_one_launch(device, name, dtype):
    sizes = SIZES * 40  # 240 tensors of one dtype: one launch
    params = SEEDED[name]
    op = getattr(ops, name)
    seeds = list(range(100, 100 + len(sizes)))
    expanded = [column * len(sizes) for column in params]
    cpu = [torch.empty(n, dtype=dtype) for n in sizes]
    op(cpu, seeds, *expanded)
    gpu = [torch.empty(n, dtype=dtype, device=device) for n in sizes]
    op(gpu, seeds, *expanded)
    for g, c in zip(gpu, cpu):
        _assert_same(g, c)


def _offsets_and_layouts(device, dtype):
    # A view starting one element into its storage (no 16-byte alignment),
    # channels_last, and a window at a global offset beyond 2^34.
    base = torch.empty(1 + 4097, dtype=dtype, device=device)
    view = base[1:]
    fi.normal_(view, 0.0, 1.0, generator=torch.Generator().manual_seed(3))
    _assert_same(view, fi.normal_(torch.empty(4097, dtype=dtype), 0.0, 1.0, generator=torch.Generator().manual_seed(3)))
    nhwc = torch.empty(2, 3, 17, 19, dtype=dtype, device=device).to(memory_format=torch.channels_last)
    fi.kaiming_uniform_(nhwc, generator=torch.Generator().manual_seed(4))
    _assert_same(nhwc, fi.kaiming_uniform_(torch.empty(2, 3, 17, 19, dtype=dtype), generator=torch.Generator().manual_seed(4)))
    # Windows whose first index is beyond 2^34: columns 5..1004 of three
    # rows, and three whole rows (one contiguous run of the global tensor).
    for columns, offset in ((1000, 5), (1 << 15, 0)):
        windows = {"global_shapes": [1 << 20, 1 << 15], "offsets": [(1 << 19) + 3, offset]}
        for name, params in SEEDED.items():
            cpu = torch.empty(3, columns, dtype=dtype)
            getattr(ops, name)([cpu], [9], *params, **windows)
            gpu = torch.empty(3, columns, dtype=dtype, device=device)
            getattr(ops, name)([gpu], [9], *params, **windows)
            _assert_same(gpu, cpu)


MIXTURES = {
    "one-word": [(0.25, fastinit.Uniform(-1, 1)), (0.5, fastinit.Constant(0.0)), (0.25, fastinit.Uniform(2, 3))],
    "truncated": [(0.4, fastinit.TruncNormal(0.0, 1.0, 2.0, 2.5)), (0.6, fastinit.Normal(0.0, 0.02))],
}


def _mixtures(device, dtype):
    for components in MIXTURES.values():
        cpu = fastinit.mixture_(torch.empty(3, 4097, dtype=dtype), components, generator=torch.Generator().manual_seed(6))
        gpu = fastinit.mixture_(torch.empty(3, 4097, dtype=dtype, device=device), components,
                                generator=torch.Generator().manual_seed(6))
        assert_bitwise_equal(gpu.cpu(), cpu)  # float32 math for every dtype


def _orthogonal(device, dtype):
    matrices = [torch.empty(48, 80, dtype=dtype, device=device) for _ in range(5)]
    fastinit.batched_orthogonal_(matrices, generator=torch.Generator().manual_seed(8))
    gram = torch.stack([m.double() @ m.double().T for m in matrices])
    torch.testing.assert_close(gram, torch.eye(48, dtype=torch.float64).expand(5, 48, 48).to(device),
                               atol=1e-5 if dtype == torch.float32 else 1e-12, rtol=0)
    generator = torch.Generator().manual_seed(8)
    singles = [fi.orthogonal_(torch.empty(48, 80, dtype=dtype, device=device), generator=generator) for _ in range(5)]
    for batched, single in zip(matrices, singles):
        assert_bitwise_equal(batched, single)


@needs_gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", SEEDED)
def test_cuda_many_tensors_in_one_launch_equal_cpu(name, dtype):
    _many_tensors_one_launch("cuda", name, dtype)


@needs_gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_cuda_offsets_layouts_and_far_windows_equal_cpu(dtype):
    _offsets_and_layouts("cuda", dtype)


@needs_gpu
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_cuda_mixtures_equal_cpu(dtype):
    _mixtures("cuda", dtype)


@needs_gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_orthogonal_is_orthogonal_and_batched_equals_single(dtype):
    _orthogonal("cuda", dtype)


def test_gpu_cases_run_on_the_cpu():
    """The bodies of the GPU cases above, CPU against CPU: their own code
    (shapes, windows, parameters) is checked on every run, so the first GPU
    run tests the kernels, not the tests."""
    for dtype in (torch.float32, torch.bfloat16):
        _many_tensors_one_launch("cpu", "trunc_normal_", dtype)
        _offsets_and_layouts("cpu", dtype)
        _mixtures("cpu", dtype)
    _orthogonal("cpu", torch.float32)
