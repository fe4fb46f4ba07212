"""Whole-model figures on the GPT-2-XL-like stack (48 x 1600, 1.56 B float32
parameters), each measurement in a fresh process so that peak RSS and fresh
memory are measured honestly.

    python benchmarks/gpt2_xl.py [--layers 48] [--width 1600] [--repeat 3]

Reports medians of: stock construction, construction under patched(),
materialize() of the meta-built model, the allocate-and-zero floor for the
same bytes, a loop of stock reset_parameters() over the warm model and
fastinit.reset_parameters(); plus each one's peak RSS.
"""

import argparse
import json
import statistics
import subprocess
import sys

STEPS = {
    "stock construction": "model = gpt2_like(L, W)",
    "patched() construction": "with fastinit.patched():\n    model = gpt2_like(L, W)",
    "materialize": "model = fastinit.materialize(gpt2_like(L, W, device='meta'))",
    "allocate + zero floor": "flat = allocate_and_zero(NBYTES)",
}
WARM = {
    "stock reset loop (warm)": "for m in model.modules():\n    if hasattr(m, 'reset_parameters'): m.reset_parameters()",
    "fastinit.reset_parameters (warm)": "fastinit.reset_parameters(model)",
}

TEMPLATE = """
import resource, time, json, torch, fastinit
from fastinit.bench.models import allocate_and_zero, gpt2_like
L, W = {layers}, {width}
NBYTES = sum(p.numel() * 4 for p in gpt2_like(L, W, device='meta').parameters())
{prepare}
start = time.perf_counter()
{step}
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                   "param_mb": NBYTES / 2**20}}))
"""


def run(step: str, layers: int, width: int, prepare: str = "") -> dict:
    code = TEMPLATE.format(layers=layers, width=width, step=step, prepare=prepare)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=48)
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = {}
    for name, step in STEPS.items():
        rows[name] = [run(step, args.layers, args.width) for _ in range(args.repeat)]
    prepare = "model = fastinit.materialize(gpt2_like(L, W, device='meta'))"
    for name, step in WARM.items():
        rows[name] = [run(step, args.layers, args.width, prepare) for _ in range(args.repeat)]
    param_mb = rows["materialize"][0]["param_mb"]
    print(f"GPT-2-like stack {args.layers} x {args.width}: {param_mb:.0f} MiB of float32 parameters; "
          f"medians of {args.repeat} fresh processes\n")
    print("| step | seconds | peak RSS MiB |\n|---|---:|---:|")
    median = {}
    for name, samples in rows.items():
        median[name] = statistics.median(s["seconds"] for s in samples)
        rss = statistics.median(s["peak_rss_mb"] for s in samples)
        print(f"| {name} | {median[name]:.2f} | {rss:.0f} |")
    print(f"\nstock / materialize: {median['stock construction'] / median['materialize']:.1f}x; "
          f"stock / patched(): {median['stock construction'] / median['patched() construction']:.1f}x; "
          f"materialize / floor: {median['materialize'] / median['allocate + zero floor']:.2f}; "
          f"stock reset loop / fastinit reset: "
          f"{median['stock reset loop (warm)'] / median['fastinit.reset_parameters (warm)']:.1f}x")


if __name__ == "__main__":
    main()
