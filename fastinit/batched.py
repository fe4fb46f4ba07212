"""batched_orthogonal_: many orthogonal matrices at once."""

import itertools
import math

import torch

from .orthogonal import check_matrix, orthogonal_matrices
from .sharding import fill_through_full, is_dtensor

__all__ = ["batched_orthogonal_"]


def batched_orthogonal_(tensors, gain: float = 1, batch_dims: int = 1, generator: torch.Generator | None = None):
    """Fill many matrices with independent (semi) orthogonal matrices.

    `tensors` is a list of tensors (each one matrix, trailing dims flattened,
    as orthogonal_ treats it) or one stacked tensor whose first `batch_dims`
    dims index independent matrices (so an (E, out, in) expert stack gets E
    orthogonal matrices). Matrices are grouped by shape: one gaussian fill and
    one orthogonalization pass per group, spread over the threads. The result equals
    orthogonal_ called on each matrix in order with the same generator, bit
    for bit. Returns `tensors`.
    """
    if isinstance(tensors, torch.Tensor) and is_dtensor(tensors):
        fill_through_full([tensors], lambda full: batched_orthogonal_(full[0], gain, batch_dims, generator))
        return tensors
    if not isinstance(tensors, torch.Tensor) and any(map(is_dtensor, tensors)):
        fill_through_full(list(tensors), lambda full: batched_orthogonal_(full, gain, batch_dims, generator))
        return tensors
    if isinstance(tensors, torch.Tensor):
        if tensors.dim() < batch_dims + 2:
            raise ValueError(
                f"batched_orthogonal_: a stacked tensor needs batch_dims + 2 = {batch_dims + 2} or more "
                f"dimensions (Only tensors with 2 or more dimensions are supported per matrix), got shape "
                f"{tuple(tensors.shape)}")
        batch_shape = tensors.shape[:batch_dims]
        matrices = [tensors[index] for index in itertools.product(*map(range, batch_shape))]
        if math.prod(batch_shape) == 0:
            matrices = []
    else:
        matrices = list(tensors)
    for matrix in matrices:
        check_matrix("batched_orthogonal_", matrix)
    live = [m for m in matrices if m.numel() > 0 and not m.is_meta]
    if live:
        orthogonal_matrices(live, gain, generator)
    return tensors
