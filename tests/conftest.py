import pytest
import torch

import fastinit  # noqa: F401  (registers torch.ops.fastinit)

FLOAT_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]

_BITS_DTYPE = {2: torch.int16, 4: torch.int32, 8: torch.int64}


def bits(tensor: torch.Tensor) -> torch.Tensor:
    """The raw bits of a floating tensor, in logical order."""
    return tensor.contiguous().view(_BITS_DTYPE[tensor.element_size()])


def assert_bitwise_equal(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    assert torch.equal(bits(actual), bits(expected))


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
