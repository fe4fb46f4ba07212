"""Name-keyed seeds across a pipeline (Note [name-keyed seeds]): on 2 and 4
local gloo ranks, each pipeline stage of the torchtitan-style Llama,
materialized on its own rank, holds the one-process model's tensors of the
same names bit for bit, and one forward through torch.distributed.pipelining
(PipelineStage + ScheduleGPipe) gives the one-process output; with FSDP2 or
tensor parallelism inside each stage (2 x 2 meshes), every rank's shards are
the slices of the one-process tensors."""

import pytest
import torch
import torch.distributed as dist

from test_sharding import SEED, _full_state, _run

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")

LAYERS = 4


def _args():
    from titan_llama import TitanArgs

    return TitanArgs(dim=32, n_heads=4, hidden=48, vocab_size=64, n_layers=LAYERS, max_seq_len=16)


def _whole():
    """The one-process model, materialized from torch.manual_seed(SEED)."""
    import fastinit
    from titan_llama import TitanLlama

    with torch.device("meta"):
        model = TitanLlama(_args())
    torch.manual_seed(SEED)
    return fastinit.materialize(model)


def _stage(stage: int, stages: int):
    """Stage `stage` of `stages`, on the meta device, as torchtitan builds it."""
    from titan_llama import TitanLlama, stage_model

    with torch.device("meta"):
        return stage_model(TitanLlama(_args()), stage, stages)


def _tokens():
    return torch.randint(0, _args().vocab_size, (4, 16), generator=torch.Generator().manual_seed(5))


def _check_stages_and_forward(rank, world_size):
    import fastinit
    from torch.distributed.pipelining import PipelineStage, ScheduleGPipe

    whole = _whole()
    model = _stage(rank, world_size)
    torch.manual_seed(SEED)
    fastinit.materialize(model)
    want = whole.state_dict()
    got = model.state_dict()
    assert set(got) < set(want) and any(k.startswith("layers.") for k in got)
    for name, tensor in got.items():
        assert torch.equal(tensor, want[name]), f"stage {rank} of {world_size}: {name} differs"
    if rank == 0:
        assert "tok_embeddings.weight" in got
    if rank == world_size - 1:
        assert "output.weight" in got

    stage = PipelineStage(model, rank, world_size, device=torch.device("cpu"))
    schedule = ScheduleGPipe(stage, n_microbatches=2)
    tokens = _tokens()
    with torch.no_grad():
        out = schedule.step(tokens) if rank == 0 else schedule.step()
        if rank == world_size - 1:
            torch.testing.assert_close(out, whole(tokens))


def _check_stages_with_sharding(rank, world_size):
    """A 2 x 2 mesh (pipeline stage, then FSDP2 or tensor parallelism):
    every rank's shards are the slices of the one-process tensors."""
    import fastinit
    from test_sharding import _parallelize_titan
    from torch.distributed.device_mesh import init_device_mesh

    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("pp", "inner"))
    stage_index = mesh.get_coordinate()[0]
    want = _whole().state_dict()
    for layout in ("fsdp2", "tp"):
        model = _stage(stage_index, 2)
        inner = mesh["inner"]
        _parallelize_titan(model, inner if layout == "fsdp2" else None, inner if layout == "tp" else None)
        torch.manual_seed(SEED)
        fastinit.materialize(model)
        got = _full_state(model)
        assert got and set(got) < set(want)
        for name, tensor in got.items():
            assert torch.equal(tensor, want[name]), f"{layout}, stage {stage_index}, rank {rank}: {name} differs"


@pytest.mark.parametrize("stages", [2, 4])
def test_each_stage_gets_the_whole_models_tensors_and_output(stages):
    _run(stages, _check_stages_and_forward)


def test_stages_with_fsdp2_or_tensor_parallelism_get_the_slices():
    _run(4, _check_stages_with_sharding)
