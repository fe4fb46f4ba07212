"""Writing random-init checkpoints: fastinit.checkpoint on a Llama-shaped
model (default: Llama-2-13B's shape, 13.0 B parameters, 26 GB in bfloat16,
more than a 24 GiB machine's memory) with 1 and 2 processes, against the
floor of writing the same bytes of zeros through the same writer (each
file's tensors allocated in the writer's buffers, zeroed and not filled,
then saved the same way: the disk's pace), and, for
scale, the stock route on a model that fits: Llama-3.2-3B built in memory
with transformers' own init, then save_pretrained.

    python benchmarks/checkpoint_writing.py [--out DIR] [--layers 40] [--hidden 5120]
        [--intermediate 13824] [--max-shard-size 1GB] [--worlds 1 2] [--repeat 1] [--stock | --no-stock]

Every run is a set of fresh processes (one per rank, started together,
each with its share of the cores); the time is the slowest rank's inside
write_checkpoint (imports and the model's construction on meta
excluded); each reports its peak RSS, and the
folder is removed after each run. Prints a markdown table: wall time of the slowest rank, GB/s,
the ratio to the floor (floor time / time: 1.0 is the disk's pace) and the
largest peak RSS of a rank.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

_RANK = r"""
import json, resource, sys, time, torch, transformers
from fastinit.checkpoint import writing
spec = json.loads(sys.argv[1])
torch.set_num_threads(spec["threads"])
config = transformers.LlamaConfig(**spec["config"])
with torch.device("meta"):
    model = transformers.LlamaForCausalLM._from_config(config, dtype=torch.bfloat16)
if spec["zeros"]:  # the floor: each file's tensors allocated in the writer's buffers (zeros), nothing filled
    from fastinit.allocation import allocate_flat

    def allocate_only(module, part, device, *args, storage=None):
        tensors = {id(t): t for t in list(module.parameters()) + list(module.buffers()) if id(t) in part}
        allocate_flat(module, tensors, torch.device(device), "floor", storage)

    writing.materialize_part = allocate_only
start = time.perf_counter()
result = writing.write_checkpoint(model, spec["out"], seed=0, max_shard_size=spec["shard"],
                                  rank=spec["rank"], world=spec["world"])
print(json.dumps({"seconds": time.perf_counter() - start, "bytes": result.bytes_written,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""

_STOCK = r"""
import json, pathlib, resource, sys, time, torch, transformers
spec = json.loads(sys.argv[1])
start = time.perf_counter()
torch.manual_seed(0)
model = transformers.LlamaForCausalLM._from_config(transformers.LlamaConfig(**spec["config"]), dtype=torch.bfloat16)
built = time.perf_counter()
model.save_pretrained(spec["out"], max_shard_size=spec["shard"])
seconds = time.perf_counter() - start
written = sum(f.stat().st_size for f in pathlib.Path(spec["out"]).glob("*.safetensors"))
print(json.dumps({"build": built - start, "seconds": seconds, "bytes": written,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""

LLAMA_3_2_3B = dict(hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
                    num_key_value_heads=8, vocab_size=128256, tie_word_embeddings=True)


def _ranks(folder: str, config: dict, shard: str, world: int, zeros: bool) -> dict:
    threads = max(1, (os.cpu_count() or 1) // world)
    processes = [subprocess.Popen([sys.executable, "-c", _RANK, json.dumps(
        {"config": config, "out": folder, "shard": shard, "rank": rank, "world": world, "zeros": zeros,
         "threads": threads})], stdout=subprocess.PIPE, text=True) for rank in range(world)]
    reports = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"a rank failed (exit {process.returncode})")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return {"seconds": max(r["seconds"] for r in reports), "bytes": sum(r["bytes"] for r in reports),
            "rss": max(r["rss"] for r in reports)}


def _median(runs: list[dict]) -> dict:
    """The run of median time (its own peak RSS and bytes)."""
    return sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]


def _row(name: str, run: dict, floor: dict | None) -> str:
    ratio = f"{floor['seconds'] / run['seconds']:.2f}" if floor else "1.00"
    return (f"| {name} | {run['seconds']:.1f} | {run['bytes'] / 1e9:.2f} | {run['bytes'] / run['seconds'] / 1e9:.3f} "
            f"| {ratio} | {run['rss'] / 2**30:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="where the checkpoints are written (default: a temporary folder)")
    parser.add_argument("--layers", type=int, default=40)
    parser.add_argument("--hidden", type=int, default=5120)
    parser.add_argument("--intermediate", type=int, default=13824)
    parser.add_argument("--heads", type=int, default=40)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--max-shard-size", default="1GB")
    parser.add_argument("--worlds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each kind; the table shows the median")
    parser.add_argument("--stock", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the stock route on Llama-3.2-3B (or --stock-layers of it)")
    parser.add_argument("--stock-layers", type=int, default=28)
    args = parser.parse_args()
    config = dict(hidden_size=args.hidden, intermediate_size=args.intermediate, num_hidden_layers=args.layers,
                  num_attention_heads=args.heads, num_key_value_heads=args.heads, vocab_size=args.vocab,
                  tie_word_embeddings=False)
    base = args.out or tempfile.mkdtemp(prefix="fastinit-checkpoints-")
    os.makedirs(base, exist_ok=True)
    folder = os.path.join(base, "checkpoint")

    def fresh(run):
        shutil.rmtree(folder, ignore_errors=True)
        try:
            return run()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    print(f"Llama-shaped model: {args.layers} layers, hidden {args.hidden}, intermediate {args.intermediate}, "
          f"vocab {args.vocab}, bfloat16, files of at most {args.max_shard_size}\n")
    print("| run | seconds | GB | GB/s | of the zeros floor | peak RSS per process (GiB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for world in args.worlds:
        floors, runs = [], []
        for _ in range(args.repeat):  # interleaved, so that a slow spell of the disk hits both
            floors.append(fresh(lambda: _ranks(folder, config, args.max_shard_size, world, zeros=True)))
            runs.append(fresh(lambda: _ranks(folder, config, args.max_shard_size, world, zeros=False)))
        floor, run = _median(floors), _median(runs)
        print(_row(f"zeros floor, {world} process(es)", floor, None), flush=True)
        print(_row(f"fastinit.checkpoint, {world} process(es)", run, floor), flush=True)
    if args.stock:
        small = dict(LLAMA_3_2_3B, num_hidden_layers=args.stock_layers)
        print(f"\nFor scale, Llama-3.2-3B's shape ({args.stock_layers} layers, bfloat16):\n")
        print("| run | seconds | GB | GB/s | of the zeros floor | peak RSS per process (GiB) |")
        print("|---|---:|---:|---:|---:|---:|")
        floor = fresh(lambda: _ranks(folder, small, "5GB", 1, zeros=True))
        print(_row("zeros floor, 1 process", floor, None), flush=True)
        run = fresh(lambda: _ranks(folder, small, "5GB", 1, zeros=False))
        print(_row("fastinit.checkpoint, 1 process", run, floor), flush=True)

        def stock():
            done = subprocess.run([sys.executable, "-c", _STOCK, json.dumps(
                {"config": small, "out": folder, "shard": "5GB"})], stdout=subprocess.PIPE, text=True, check=True)
            return json.loads(done.stdout.strip().splitlines()[-1])

        report = fresh(stock)
        print(_row(f"stock: build in memory ({report['build']:.1f} s), save_pretrained", report, floor), flush=True)
    if args.out is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
