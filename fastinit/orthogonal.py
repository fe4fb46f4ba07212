"""The orthogonal_ engine: many matrices grouped by shape, one gaussian fill
and one orthogonalization per group and workspace chunk (Note [orthogonal
from reflectors] in csrc/orthogonal_householder.cpp). Serves orthogonal_,
batched_orthogonal_ and the model plans."""

import itertools

import torch
from torch import Tensor

from ._ops import LARGE_MATRIX_ELEMENTS, ops
from .fills import require_floating, seeds_for
from .generators import resolve_generator

# The gaussian workspace of one orthogonal_from_ call holds at most this
# many bytes (or one matrix).
_ORTHOGONAL_WORKSPACE_BYTES = 32 << 20


def check_matrix(name: str, tensor: Tensor) -> None:
    """torch.nn.init.orthogonal_'s checks of a destination (2 or more dims)
    and fastinit's (floating point), naming `name`."""
    if tensor.dim() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    require_floating(name, tensor)


def orthogonal_matrices(matrices: list[Tensor], gain: float, generator=None, seeds: list[int] | None = None) -> None:
    """Fill each of `matrices` (rows x trailing dims, non-empty, floating)
    with gain times a Haar-distributed orthogonal matrix built from the
    gaussians of seeds[i] (from seeds_for(matrices, generator) when not given;
    Note [orthogonal from reflectors] in csrc/orthogonal_householder.cpp).
    Per group of equal shapes, one fill and one orthogonal_from_ call per
    chunk of matrices whose workspace fits _ORTHOGONAL_WORKSPACE_BYTES."""
    if seeds is None and torch.compiler.is_compiling():
        _orthogonal_matrices_drawing(matrices, gain, generator)
        return
    if seeds is None:
        seeds = seeds_for(matrices, generator)
    with torch.no_grad():
        for (c, m, device, dtype), indices in _orthogonal_groups(matrices).items():
            own = {i for i in indices if _is_own_workspace(matrices[i], dtype)}
            for i in sorted(own):
                _orthogonal_call([matrices[i]], [seeds[i]], matrices[i].view(1, c, m), gain)
            rest = [i for i in indices if i not in own]
            per_call = max(1, _ORTHOGONAL_WORKSPACE_BYTES // (c * m * dtype.itemsize))
            for start in range(0, len(rest), per_call):
                part = rest[start:start + per_call]
                workspace = torch.empty((len(part), c, m), dtype=dtype, device=device)
                _orthogonal_call([matrices[i] for i in part], [seeds[i] for i in part], workspace, gain)


def _orthogonal_groups(matrices: list[Tensor]) -> dict[tuple, list[int]]:
    """Indices of `matrices` by workspace (min(rows, cols), max(rows, cols),
    device, working dtype: float64 for float64, float32 otherwise)."""
    groups: dict[tuple, list[int]] = {}
    for index, matrix in enumerate(matrices):
        rows, cols = matrix.size(0), matrix.numel() // matrix.size(0)
        work_dtype = torch.float64 if matrix.dtype == torch.float64 else torch.float32
        groups.setdefault((min(rows, cols), max(rows, cols), matrix.device, work_dtype), []).append(index)
    return groups


def _is_own_workspace(matrix: Tensor, work_dtype: torch.dtype) -> bool:
    """A large matrix (orthogonalized alone, with all threads:
    csrc/orthogonal_householder.h) that is contiguous in its working dtype
    with rows <= cols serves as its own workspace."""
    return (matrix.numel() >= LARGE_MATRIX_ELEMENTS and matrix.dtype == work_dtype and matrix.is_contiguous()
            and matrix.size(0) ** 2 <= matrix.numel())


def _orthogonal_call(destinations: list[Tensor], seeds: list[int], workspace: Tensor, gain: float) -> None:
    count = len(destinations)
    ops.normal_(list(workspace.unbind(0)), seeds, [0.0] * count, [1.0] * count)
    ops.orthogonal_from_(destinations, workspace, float(gain))


def _orthogonal_matrices_drawing(matrices: list[Tensor], gain: float, generator) -> None:
    """orthogonal_matrices for torch.compile: the gaussians' seeds drawn
    when the compiled code runs (one call per device, in matrix order), one
    workspace per group."""
    groups = _orthogonal_groups(matrices)
    with torch.no_grad():
        workspaces = {key: torch.empty((len(indices), *key[:2]), dtype=key[3], device=key[2])
                      for key, indices in groups.items()}
        workspace_of = [None] * len(matrices)
        for key, indices in groups.items():
            for index, workspace in zip(indices, workspaces[key].unbind(0)):
                workspace_of[index] = workspace
        generator = resolve_generator(generator)
        for _, run in itertools.groupby(range(len(matrices)), key=lambda i: matrices[i].device):
            run = list(run)
            ops.normal_from_generator_([workspace_of[i] for i in run], [0.0] * len(run), [1.0] * len(run), generator)
        for key, indices in groups.items():
            ops.orthogonal_from_([matrices[i] for i in indices], workspaces[key], float(gain))
