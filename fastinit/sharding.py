"""DTensor support: a sharded tensor gets exactly the values of the unsharded one.

fastinit's values are a function of (seed, global row-major index) (Note
[fastinit RNG contract]), so each rank fills its local shard with the values
of its slice of the global tensor, without communication and without ever
building the global tensor: the random ops take the global shape and the
offsets of each local block (Note [shard windows] in
csrc/include/fastinit/layout.h). Every rank draws the same seed, as long as
the ranks' generators are in the same state (as after the same
`torch.manual_seed`).

A shard is a product of per-dim index sets: `Shard(d)` keeps a range of dim
d (torch.chunk's split, so uneven and empty shards too), `Replicate` keeps
everything, several mesh dims compose left to right, and `_StridedShard`
(FSDP2 over tensor parallelism) keeps several ranges of a dim; each
combination of ranges is one block. `Partial` placements are refused: their
local tensors are not slices of the global one.

Initializers that are not element-wise (orthogonal_, sparse_, eye_, dirac_)
compute the global tensor on every rank and keep their slice: O(global size)
time and memory per rank (see fill_through_full).
"""

import itertools
import sys

import torch

__all__ = ["is_dtensor", "localize", "fill_through_full"]


# Types that are never DTensors: the common case, answered by type alone.
PLAIN_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)


def is_dtensor(tensor) -> bool:
    """Whether `tensor` is a DTensor (cheap when torch.distributed.tensor was
    never imported: then there is none)."""
    if type(tensor) in PLAIN_TENSOR_TYPES:  # the common case, tested first
        return False
    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(tensor, module.DTensor)


def global_indices(dtensor) -> list:
    """Per dim, the global indices of the local shard's positions, in local
    order (a range, or a list for strided shards)."""
    from torch.distributed.tensor import Partial, Replicate, Shard
    from torch.distributed.tensor.placement_types import _StridedShard

    mesh = dtensor.device_mesh
    coordinate = mesh.get_coordinate()
    indices = [range(size) for size in dtensor.shape]
    if coordinate is None:  # this rank is not in the mesh and holds nothing
        return [range(0) for _ in indices]
    for mesh_dim, placement in enumerate(dtensor.placements):
        if isinstance(placement, Replicate):
            continue
        if isinstance(placement, _StridedShard):
            d = placement.dim
            _, offsets = placement._local_shard_size_and_offset(
                len(indices[d]), mesh.size(mesh_dim), coordinate[mesh_dim], **_all_offsets())
            indices[d] = [indices[d][o] for o in offsets]
        elif isinstance(placement, Shard):
            d = placement.dim
            size, offset = placement._local_shard_size_and_offset(len(indices[d]), mesh.size(mesh_dim),
                                                                  coordinate[mesh_dim])
            indices[d] = indices[d][offset:offset + size]
        else:
            kind = "Partial" if isinstance(placement, Partial) else type(placement).__name__
            raise NotImplementedError(
                f"fastinit: cannot initialize a DTensor with placement {placement!r} ({kind}): its local "
                "tensor is not a slice of the global tensor; redistribute it to Shard or Replicate first")
    return indices


def _all_offsets() -> dict:
    """The keyword that has _StridedShard._local_shard_size_and_offset list
    every offset of a rank's shard: `offset_mode` in torch 2.14 and 2.15,
    `return_first_offset` in 2.11."""
    from torch.distributed.tensor import placement_types

    if hasattr(placement_types, "_StridedShardOffsetMode"):
        return {"offset_mode": placement_types._StridedShardOffsetMode.ALL}
    return {"return_first_offset": False}


def _runs(indices) -> list[tuple[int, int, int]]:
    """Maximal runs of consecutive global indices: (local start, global
    start, length)."""
    if isinstance(indices, range):
        return [(0, indices.start, len(indices))] if len(indices) else []
    runs = []
    for position, index in enumerate(indices):
        if runs and runs[-1][1] + runs[-1][2] == index:
            local, first, length = runs[-1]
            runs[-1] = (local, first, length + 1)
        else:
            runs.append((position, index, 1))
    return runs


def blocks(dtensor) -> list[tuple[torch.Tensor, list[int]]]:
    """The local shard of `dtensor` as blocks of the global tensor: (view of
    the local tensor, global offsets). Empty for an empty shard."""
    local = dtensor._local_tensor
    indices = global_indices(dtensor)
    if local.numel() == 0:
        return []
    result = []
    for box in itertools.product(*map(_runs, indices)):
        view = local
        for d, (local_start, _, length) in enumerate(box):
            if length != local.size(d):
                view = view.narrow(d, local_start, length)
        result.append((view, [first for _, first, _ in box]))
    return result


def localize(tensors: list, seeds: list, params: list):
    """The arguments of one batched random op with every DTensor replaced by
    its local blocks (each with the DTensor's seed and parameters): returns
    (tensors, seeds, params, windows), windows being the op's
    `global_shapes`/`offsets` keywords, empty when there was no DTensor."""
    if not any(map(is_dtensor, tensors)):
        return tensors, seeds, params, {}
    out_tensors, out_seeds, out_params, shapes, offsets = [], [], [], [], []
    for tensor, seed, param in zip(tensors, seeds, params):
        pieces = blocks(tensor) if is_dtensor(tensor) else [(tensor, [0] * tensor.dim())]
        for view, offset in pieces:
            out_tensors.append(view)
            out_seeds.append(seed)
            out_params.append(param)
            shapes += tensor.shape
            offsets += offset
    return out_tensors, out_seeds, out_params, {"global_shapes": shapes, "offsets": offsets}


def fill_through_full(tensors: list, fill) -> None:
    """fill(list) with every DTensor of `tensors` replaced by a plain tensor of
    its global shape on its local device; then each DTensor's local shard
    takes its slice. For initializers that are not element-wise; every rank
    runs the same fill, so the ranks' generators stay in step."""
    twins = []
    for tensor in tensors:
        if is_dtensor(tensor):
            local = tensor._local_tensor
            twins.append(torch.empty(tensor.shape, dtype=tensor.dtype, device=local.device))
        else:
            twins.append(tensor)
    fill(twins)
    with torch.no_grad():
        for tensor, twin in zip(tensors, twins):
            if twin is tensor or tensor._local_tensor.numel() == 0:
                continue
            piece = twin
            for d, index in enumerate(global_indices(tensor)):
                if len(index) != twin.size(d):
                    piece = piece.index_select(d, torch.as_tensor(list(index), device=twin.device))
            tensor._local_tensor.copy_(piece)
