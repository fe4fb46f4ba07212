"""Sharded initialization (fastinit.sharding): on 1, 2 and 4 local processes
(gloo), every initializer's DTensor result, gathered, equals the unsharded
result bit for bit, for every placement; FSDP2 models materialized and reset
on 2 ranks equal the same models on 1; a torchtitan-style Llama through
FSDP2, tensor parallelism and both, on 1, 2 and 4 ranks, equals the
unsharded model."""

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


def _check_tensor_parallel(rank, world_size):
    from torch import nn
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    import fastinit

    mesh = init_device_mesh("cpu", (world_size,))
    with torch.device("meta"):
        sharded = nn.Sequential(nn.Linear(16, 30), nn.ReLU(), nn.Linear(30, 7))
        plain = nn.Sequential(nn.Linear(16, 30), nn.ReLU(), nn.Linear(30, 7))
    parallelize_module(sharded, mesh, {"0": ColwiseParallel(), "2": RowwiseParallel()})
    torch.manual_seed(SEED)
    fastinit.materialize(sharded)
    torch.manual_seed(SEED)
    fastinit.materialize(plain)
    got, want = _full_state(sharded), _full_state(plain)
    for key in want:
        assert torch.equal(got[key], want[key]), f"tensor parallel materialize: {key} differs on rank {rank}"
    x = torch.ones(2, 16)
    torch.testing.assert_close(sharded(x), plain(x))


def _check_partial_is_refused(rank, world_size):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Partial

    from fastinit import init

    mesh = init_device_mesh("cpu", (world_size,))
    partial = DTensor.from_local(torch.zeros(4, 4), mesh, [Partial()])
    with pytest.raises(NotImplementedError, match="Partial"):
        init.uniform_(partial)
    assert torch.count_nonzero(partial.to_local()) == 0


def _titan_layouts(world_size):
    """(name, mesh for FSDP2 or None, mesh for tensor parallelism or None)
    of the torchtitan flows on `world_size` ranks."""
    from torch.distributed.device_mesh import init_device_mesh

    line = init_device_mesh("cpu", (world_size,))
    grid = init_device_mesh("cpu", (max(world_size // 2, 1), min(world_size, 2)), mesh_dim_names=("dp", "tp"))
    return [("fsdp2", line, None), ("tp", None, line), ("fsdp2+tp", grid["dp"], grid["tp"])]


def _parallelize_titan(model, fsdp_mesh, tp_mesh):
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import Replicate
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    if tp_mesh is not None:
        parallelize_module(model, tp_mesh, {"tok_embeddings": RowwiseParallel(input_layouts=Replicate()),
                                            "output": ColwiseParallel()})
        for block in model.layers.values():
            parallelize_module(block, tp_mesh, {
                "attention.wq": ColwiseParallel(), "attention.wk": ColwiseParallel(),
                "attention.wv": ColwiseParallel(), "attention.wo": RowwiseParallel(),
                "feed_forward.w1": ColwiseParallel(), "feed_forward.w2": RowwiseParallel(),
                "feed_forward.w3": ColwiseParallel()})
    if fsdp_mesh is not None:
        for block in model.layers.values():
            fully_shard(block, mesh=fsdp_mesh)
        fully_shard(model, mesh=fsdp_mesh)


def _check_titan_flow(rank, world_size):
    """torchtitan's flow (meta -> fully_shard and/or parallelize_module ->
    to_empty -> init_weights(buffer_device=)) under patched(), under
    patched(defer_fills=True), and through materialize: every rank's shards
    are the slices of the unsharded model's tensors made the same way, bit
    for bit."""
    import fastinit
    from titan_llama import TitanArgs, TitanLlama

    args = TitanArgs(dim=32, n_heads=4, hidden=48, vocab_size=64, n_layers=2)

    def plain_flow():
        with torch.device("meta"):
            model = TitanLlama(args)
        model.to_empty(device="cpu")
        torch.manual_seed(SEED)
        with fastinit.patched():
            model.init_weights(buffer_device=torch.device("cpu"))
        return _full_state(model) | {"freqs": model.freqs.clone()}

    def materialized():  # name-keyed seeds (Note [name-keyed seeds]): other values than patched()'s draws
        with torch.device("meta"):
            model = TitanLlama(args)
        torch.manual_seed(SEED)
        fastinit.materialize(model)
        return _full_state(model) | {"freqs": model.freqs.clone()}

    wants = {"patched": plain_flow(), "materialize": materialized()}
    wants["patched, deferred"] = wants["patched"]
    for name, fsdp_mesh, tp_mesh in _titan_layouts(world_size):
        for how in ("patched", "patched, deferred", "materialize"):
            with torch.device("meta"):
                model = TitanLlama(args)
            _parallelize_titan(model, fsdp_mesh, tp_mesh)
            torch.manual_seed(SEED)
            if how == "materialize":
                fastinit.materialize(model)
            else:
                model.to_empty(device="cpu")
                with fastinit.patched(defer_fills=how == "patched, deferred"):
                    model.init_weights(buffer_device=torch.device("cpu"))
            got = _full_state(model) | {"freqs": model.freqs}
            want = wants[how]
            assert got.keys() == want.keys()
            for key in want:
                assert torch.equal(got[key], want[key]), f"{name} ({how}): {key} differs on rank {rank}"


def _worker(rank, world_size, store_path, checks, errors):
    exit_code = 0
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
        exit_code = 1
    # Skip interpreter teardown: gloo's threads at static destruction time
    # occasionally abort a finished process ("terminate called without an
    # active exception"), which says nothing about the checks.
    os._exit(exit_code)


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


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_torchtitan_flow_matches_one_process(world_size):
    _run(world_size, _check_titan_flow)


def test_tensor_parallel_materialize_and_partial_refusal():
    _run(2, _check_tensor_parallel, _check_partial_is_refused)


# ------------------------------------------------ the ops' shard windows
KINDS = {
    "uniform_": ([-1.0], [2.0]),
    "normal_": ([0.5], [2.0]),
    "trunc_normal_": ([0.0], [1.0], [-0.3], [0.2]),
    "mixture_": ([2], [0.3, 0.7], [0, 3], [5.0, 0.0, 0.0, 0.0, 0.0, 1.0, -0.2, 0.3]),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", list(KINDS))
def test_blocks_get_the_slices_of_the_whole(name, dtype):
    """Any block of a global tensor, filled alone (also into a permuted
    destination), equals that block of the filled whole: unaligned starts,
    partial runs, one-element blocks."""
    op, args = getattr(torch.ops.fastinit, name), KINDS[name]
    shape = (7, 9, 1030)  # rows longer than a store chunk
    whole = torch.empty(shape, dtype=dtype)
    op([whole], [99], *args)
    generator = torch.Generator().manual_seed(0)
    for _ in range(12):
        offsets = [int(torch.randint(0, n, (1,), generator=generator)) for n in shape]
        sizes = [int(torch.randint(1, n - o + 1, (1,), generator=generator)) for n, o in zip(shape, offsets)]
        block = torch.full(sizes, float("nan"), dtype=dtype)
        permuted = torch.full(sizes[::-1], float("nan"), dtype=dtype).permute(2, 1, 0)
        for destination in (block, permuted):
            op([destination], [99], *args, global_shapes=list(shape), offsets=offsets)
        expected = whole[tuple(slice(o, o + n) for o, n in zip(offsets, sizes))]
        assert torch.equal(block, expected), (offsets, sizes)
        assert torch.equal(permuted, expected), (offsets, sizes)


def test_bad_windows_raise_and_leave_tensors_untouched():
    tensor = torch.zeros(4, 5)
    with pytest.raises(RuntimeError, match="does not fit in the global shape"):
        torch.ops.fastinit.uniform_([tensor], [1], [0.0], [1.0], global_shapes=[4, 5], offsets=[1, 0])
    with pytest.raises(RuntimeError, match="one number per dim"):
        torch.ops.fastinit.normal_([tensor], [1], [0.0], [1.0], global_shapes=[8, 5, 1], offsets=[0, 0])
    with pytest.raises(RuntimeError, match="given together"):
        torch.ops.fastinit.normal_([tensor], [1], [0.0], [1.0], global_shapes=[8, 5])
    with pytest.raises(RuntimeError, match="does not fit"):
        torch.ops.fastinit.normal_([tensor.to("meta")], [1], [0.0], [1.0], global_shapes=[8, 5], offsets=[-1, 0])
    assert torch.count_nonzero(tensor) == 0


def test_opcheck_with_windows():
    tensors = [torch.empty(3, 4), torch.empty(2, 5, dtype=torch.bfloat16)]
    torch.library.opcheck(torch.ops.fastinit.uniform_, (tensors, [1, 2], [0.0, -1.0], [1.0, 1.0]),
                          {"global_shapes": [9, 4, 2, 8], "offsets": [3, 0, 0, 2]})
