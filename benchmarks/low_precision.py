"""bfloat16 and float16 fills against float32, in elements per second, in one
process (issue #3 asks for >= 1.0x).

    python benchmarks/low_precision.py [--elements 67108864] [--repeat 5] [--threads N]

Each initializer fills the same number of elements in float32, bfloat16 and
float16, round-robin over `--rounds` rounds so that all three see the same
machine state; a dtype's figure is the median over rounds of its median
time. Contiguous 16-bit tensors are rounded in registers and written once
(Note [16-bit outputs] in csrc/cpu/kernel_table_impl.h).
"""

import argparse
import statistics

import torch

import fastinit.init as fast
from fastinit.bench.report import median_seconds

INITIALIZERS = {
    "uniform_": lambda t: fast.uniform_(t, -1, 1),
    "normal_": lambda t: fast.normal_(t, 0, 0.02),
    "trunc_normal_": lambda t: fast.trunc_normal_(t, std=0.02),
}
DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def relative_rates(elements: int, repeat: int, rounds: int) -> dict:
    """{initializer: (float32 seconds, bfloat16 and float16 elements/s
    relative to float32)} over `elements`-element tensors, the dtypes
    round-robin for `rounds` rounds, medians of medians."""
    tensors = {dtype: torch.zeros(elements, dtype=dtype) for dtype in DTYPES}
    rates = {}
    for name, fill in INITIALIZERS.items():
        seconds = {dtype: [] for dtype in DTYPES}
        for _ in range(rounds):
            for dtype in DTYPES:
                seconds[dtype].append(median_seconds(lambda: fill(tensors[dtype]), repeat))
        base = statistics.median(seconds[torch.float32])
        rates[name] = (base, *(base / statistics.median(seconds[dtype]) for dtype in DTYPES[1:]))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=1 << 26)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{args.elements} elements, {torch.get_num_threads()} threads; "
          "elements/s relative to float32 (> 1: faster)\n")
    print("| initializer | float32 | bfloat16 | float16 |\n|---|---:|---:|---:|")
    for name, (base, bfloat16, float16) in relative_rates(args.elements, args.repeat, args.rounds).items():
        print(f"| {name} | {base * 1e3:.1f} ms | {bfloat16:.2f}× | {float16:.2f}× |")


if __name__ == "__main__":
    main()
