from collections import Counter

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


def pytest_terminal_summary(terminalreporter):
    """One line saying why tests skipped, grouped by reason (no GPU, no
    in-place CUDA build, a library not installed, ...), most frequent first."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    reasons = Counter(_skip_reason(report) for report in skipped)
    listed = "; ".join(f"{count} {reason}" for reason, count in reasons.most_common())
    terminalreporter.write_line(f"{len(skipped)} skipped: {listed}")


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")
