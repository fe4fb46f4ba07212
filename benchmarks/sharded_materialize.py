"""Sharded materialize: the GPT-2-XL-like stack (48 x 1600, 1.56 B float32
parameters) built on the meta device and split over 1 and 2 local ranks
(gloo, CPU), then `fastinit.materialize`d: with `--split fsdp2` (default)
each layer is wrapped with FSDP2 `fully_shard`; with `--split pipeline` each
rank keeps a pipeline stage, its consecutive share of the layers under their
names in the whole stack, so name-keyed seeds give it the whole stack's
values (Note [name-keyed seeds]). Each rank fills only its part, so the
per-rank time should roughly halve.

    python benchmarks/sharded_materialize.py [--split fsdp2|pipeline] [--layers 48] [--width 1600]
        [--repeat 3] [--world-sizes 1 2]

Every rank gets the same resources (`--threads`, default 1, as each rank
of a real job has its own device): the question is how much one rank's work
shrinks when the model is sharded, on a machine with a core per rank.
Reports, per world size, the median over repetitions of the slowest rank's
materialize time (from a barrier before to a barrier after) and each rank's
parameter bytes.
"""

import argparse
import gc
import os
import statistics
import tempfile
import time


def _stage(model, rank, world_size):
    """Rank `rank`'s pipeline stage of the stack: its share of the layers,
    registered under the names they have in the whole."""
    from torch import nn

    names = [name for name, _ in model.named_children()]
    share = len(names) // world_size
    stage = nn.Module()
    for name in names[rank * share:(rank + 1) * share]:
        stage.add_module(name, model.get_submodule(name))
    return stage


def _rank(rank, world_size, store, split, layers, width, repeat, threads, results):
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    import fastinit
    from fastinit.bench.models import gpt2_like

    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
    mesh = init_device_mesh("cpu", (world_size,))
    seconds = []
    for _ in range(repeat):
        model = gpt2_like(layers, width, device="meta")
        if split == "pipeline":
            model = _stage(model, rank, world_size)
        else:
            for layer in model:
                fully_shard(layer, mesh=mesh)
            fully_shard(model, mesh=mesh)
        dist.barrier()
        start = time.perf_counter()
        fastinit.materialize(model)
        dist.barrier()
        seconds.append(time.perf_counter() - start)
        local_bytes = sum((p.to_local() if split == "fsdp2" else p).numel() * p.element_size()
                          for p in model.parameters())
        del model
        gc.collect()  # FSDP2 state holds reference cycles; free the model before the next
    results.put((rank, seconds, local_bytes))
    dist.destroy_process_group()


def measure(world_size: int, split: str, layers: int, width: int, repeat: int, threads: int) -> dict:
    import torch.multiprocessing as mp

    context = mp.get_context("spawn")
    results = context.SimpleQueue()
    with tempfile.TemporaryDirectory() as tmp:
        store = os.path.join(tmp, "store")
        processes = [context.Process(target=_rank, args=(r, world_size, store, split, layers, width, repeat, threads,
                                                                results))
                     for r in range(world_size)]
        for p in processes:
            p.start()
        for p in processes:  # a rank's row is a few numbers: it is in the queue before the rank exits
            p.join()
        failed = [p.exitcode for p in processes if p.exitcode != 0]
        if failed:
            raise SystemExit(f"sharded_materialize: {len(failed)} of {world_size} ranks failed (exit codes {failed})")
        rows = [results.get() for _ in processes]
    slowest = [max(r[1][i] for r in rows) for i in range(repeat)]
    return {"seconds": statistics.median(slowest), "bytes_per_rank": max(r[2] for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["fsdp2", "pipeline"], default="fsdp2",
                        help="FSDP2 shards of every layer, or a pipeline stage of whole layers per rank")
    parser.add_argument("--layers", type=int, default=48)
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--world-sizes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=1, help="threads per rank")
    args = parser.parse_args()
    split = "FSDP2 fully_shard per layer" if args.split == "fsdp2" else "a pipeline stage of whole layers per rank"
    print(f"GPT-2-like {args.layers} x {args.width}, {split}, CPU gloo, "
          f"{args.threads} thread(s) per rank, median of {args.repeat} (slowest rank)")
    print(f"{'ranks':>5}  {'materialize s':>13}  {'GiB per rank':>12}  {'vs 1 rank':>9}")
    first = None
    for world_size in args.world_sizes:
        row = measure(world_size, args.split, args.layers, args.width, args.repeat, args.threads)
        first = first or row["seconds"]
        print(f"{world_size:>5}  {row['seconds']:>13.2f}  {row['bytes_per_rank'] / 2**30:>12.2f}  "
              f"{row['seconds'] / first:>8.2f}x")


if __name__ == "__main__":
    main()
