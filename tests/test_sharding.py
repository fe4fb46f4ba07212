"""Sharded initialization (fastinit.sharding): on 1, 2 and 4 local processes
(gloo), every initializer's DTensor result, gathered, equals the unsharded
result bit for bit, for every placement; FSDP2 models materialized and reset
on 2 ranks equal the same models on 1."""

import os
import tempfile
import traceback

import pytest
import torch
import torch.distributed as dist

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")

SEED = 1234


def _initializers():
    import fastinit
    from fastinit import init

    components = [(0.25, fastinit.Constant(0.0)), (0.5, fastinit.Normal(0.0, 0.02)),
                  (0.25, fastinit.TruncNormal(0.0, 1.0, -0.5, 0.5))]
    # name -> (fn(tensor) -> None, which shapes it takes)
    return {
        "uniform_": (lambda t: init.uniform_(t, -2.0, 3.0), "any"),
        "normal_": (lambda t: init.normal_(t, 0.5, 2.0), "any"),
        "trunc_normal_": (lambda t: init.trunc_normal_(t, 0.0, 1.0, -0.3, 0.4), "any"),
        "xavier_uniform_": (lambda t: init.xavier_uniform_(t, gain=1.5), "2d+"),
        "xavier_normal_": (lambda t: init.xavier_normal_(t), "2d+"),
        "kaiming_uniform_": (lambda t: init.kaiming_uniform_(t, a=5 ** 0.5), "2d+"),
        "kaiming_normal_": (lambda t: init.kaiming_normal_(t, mode="fan_out"), "2d+"),
        "mixture_": (lambda t: fastinit.mixture_(t, components), "any"),
        "constant_": (lambda t: init.constant_(t, 0.25), "any"),
        "orthogonal_": (lambda t: init.orthogonal_(t, gain=2.0), "2d+"),
        "sparse_": (lambda t: init.sparse_(t, 0.3), "2d"),
        "eye_": (lambda t: init.eye_(t), "2d"),
        "dirac_": (lambda t: init.dirac_(t), "3d"),
        "batched_orthogonal_": (lambda t: fastinit.batched_orthogonal_(t), "3d"),
    }


def _takes(kind, shape):
    return {"any": True, "2d+": len(shape) >= 2, "2d": len(shape) == 2, "3d": len(shape) == 3}[kind]


def _placement_cases(world_size):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor.placement_types import _StridedShard

    line = init_device_mesh("cpu", (world_size,))
    cases = [(line, [Shard(0)]), (line, [Shard(1)]), (line, [Replicate()]), (line, [Shard(-1)])]
    if world_size == 4:
        grid = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
        cases += [(grid, [Shard(0), Shard(1)]), (grid, [Shard(1), Shard(0)]), (grid, [Shard(0), Shard(0)]),
                  (grid, [Replicate(), Shard(1)]), (grid, [_StridedShard(0, split_factor=2), Shard(0)])]
    return cases


def _check_initializers(rank, world_size):
    from torch.distributed.tensor import distribute_tensor

    failures = []
    shapes = [(13, 7), (8, 6), (2, 9), (6, 5, 3)]
    for mesh, placements in _placement_cases(world_size):
        for shape in shapes:
            placements = [type(p)(p.dim % len(shape)) if type(p).__name__ == "Shard" else p for p in placements]
            for dtype in (torch.float32, torch.bfloat16, torch.float64):
                for name, (fn, kind) in _initializers().items():
                    if not _takes(kind, shape) or (dtype != torch.float32 and name not in
                                                    ("uniform_", "normal_", "trunc_normal_", "mixture_")):
                        continue
                    sharded = distribute_tensor(torch.full(shape, float("nan"), dtype=dtype), mesh, placements,
                                                src_data_rank=None)
                    torch.manual_seed(SEED)
                    fn(sharded)
                    after_sharded = torch.rand(1)
                    gathered = sharded.full_tensor()
                    torch.manual_seed(SEED)
                    expected = torch.full(shape, float("nan"), dtype=dtype)
                    fn(expected)
                    after_expected = torch.rand(1)
                    if not torch.equal(gathered, expected) or not torch.equal(after_sharded, after_expected):
                        failures.append(f"{name} {dtype} {shape} {placements}")
    assert not failures, f"rank {rank}: sharded != unsharded for {failures}"


def _small_model():
    from torch import nn

    return nn.Sequential(nn.Embedding(50, 16), nn.Linear(16, 33), nn.LayerNorm(33), nn.ReLU(),
                         nn.Linear(33, 9, bias=False), nn.BatchNorm1d(9))


def _full_state(model):
    from fastinit.sharding import is_dtensor

    return {k: (v.full_tensor() if is_dtensor(v) else v).clone() for k, v in model.state_dict().items()}


def _check_fsdp(rank, world_size):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    import fastinit

    mesh = init_device_mesh("cpu", (world_size,))
    with torch.device("meta"):
        sharded = _small_model()
        plain = _small_model()
    for layer in (sharded[0], sharded[1], sharded[4]):
        fully_shard(layer, mesh=mesh)
    fully_shard(sharded, mesh=mesh)
    torch.manual_seed(SEED)
    fastinit.materialize(sharded)
    torch.manual_seed(SEED)
    fastinit.materialize(plain)
    got, want = _full_state(sharded), _full_state(plain)
    assert got.keys() == want.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), f"materialize: {key} differs on rank {rank}"
    # The model still trains: one forward/backward/step through FSDP2.
    optimizer = torch.optim.SGD(sharded.parameters(), lr=0.1)
    sharded(torch.tensor([1, 2, 3])).sum().backward()
    optimizer.step()
    torch.manual_seed(SEED + 1)
    fastinit.reset_parameters(sharded)
    torch.manual_seed(SEED + 1)
    fastinit.reset_parameters(plain)
    got, want = _full_state(sharded), _full_state(plain)
    for key in want:
        if "running" not in key and "num_batches" not in key:  # reset_parameters leaves buffers alone
            assert torch.equal(got[key], want[key]), f"reset_parameters: {key} differs on rank {rank}"


def _worker(rank, world_size, store_path, checks, errors):
    try:
        torch.set_num_threads(1)
        dist.init_process_group("gloo", init_method=f"file://{store_path}", rank=rank, world_size=world_size)
        try:
            for check in checks:
                check(rank, world_size)
            dist.barrier()
        finally:
            dist.destroy_process_group()
    except Exception:
        errors.put(traceback.format_exc())
        raise


def _run(world_size, *checks):
    """Runs every check on `world_size` spawned ranks; fails with the first
    rank's traceback."""
    import torch.multiprocessing as mp

    context = mp.get_context("spawn")
    errors = context.SimpleQueue()
    with tempfile.TemporaryDirectory() as tmp:
        store = os.path.join(tmp, "store")
        processes = [context.Process(target=_worker, args=(rank, world_size, store, checks, errors))
                     for rank in range(world_size)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=600)
            if process.is_alive():
                process.kill()
    assert errors.empty(), errors.get()
    assert all(p.exitcode == 0 for p in processes), [p.exitcode for p in processes]


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_initializers_match_unsharded(world_size):
    _run(world_size, _check_initializers)


@pytest.mark.parametrize("world_size", [1, 2])
def test_fsdp2_materialize_and_reset_match_one_process(world_size):
    _run(world_size, _check_fsdp)
