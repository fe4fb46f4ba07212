"""The CPU kernels' figures on this machine, each beside its target for
the instruction set that ran, from one process.

    python benchmarks/cpu_targets.py [--repeat 5] [--size huge] [--rounds 3]

- Large fills: stock, fastinit and fill_(1.0) on one 64 Mi-element float32
  tensor (--size), taken in turn in every repetition (as `python -m
  fastinit.bench`); "of fill_" is fill_'s time over fastinit's.
- Per call: 64 x 64 kaiming_uniform_, 200 calls per repetition.
- 16-bit: bfloat16 and float16 elements/s over float32's
  (benchmarks/low_precision.py).
- Threads: fastinit's time on 1 thread over its time on all threads.

`ATEN_CPU_CAPABILITY=avx2` runs the AVX2 kernels (and targets) on an
AVX-512 host; the first line printed says which kernels ran.
"""

import argparse

import torch

from fastinit.bench.cases import INITIALIZERS, tensor_case
from fastinit.bench.report import machine, measure, median_seconds
from low_precision import relative_rates

# Least fraction of fill_ per kernel family and instruction set, set for a
# 2-vCPU machine running 2 threads; the portable kernels are held to the
# AVX2 figures.
UNIFORM = ("uniform_", "kaiming_uniform_", "xavier_uniform_")
NORMAL = ("normal_", "kaiming_normal_", "xavier_normal_")
TRUNC = ("trunc_normal_", "trunc_normal_(std=1)")
FILL_TARGETS = {
    "avx512": {**dict.fromkeys(UNIFORM, 0.6), **dict.fromkeys(NORMAL, 0.75), **dict.fromkeys(TRUNC, 0.6)},
    "avx2": {**dict.fromkeys(UNIFORM, 0.4), **dict.fromkeys(NORMAL, 0.45), **dict.fromkeys(TRUNC, 0.35)},
}
PER_CALL_TARGET_US = {"avx512": 1.5, "avx2": 3.0}
SIXTEEN_BIT_TARGET = 1.0  # elements/s over float32
SCALING = ("uniform_", "normal_", "trunc_normal_")


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per measurement (medians)")
    parser.add_argument("--size", default="huge", choices=["medium", "huge"], help="huge: 8192 x 8192")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the 16-bit comparison")
    args = parser.parse_args()
    info = machine()
    threads = torch.get_num_threads()
    print(f"{info['cpu']}; fastinit's {info['cpu_kernels']} kernels; torch {info['torch']}; {threads} threads\n")
    print("| figure | measured | target | |\n|---|---:|---:|---|")

    kernels = info["cpu_kernels"]
    targets = FILL_TARGETS.get(kernels, FILL_TARGETS["avx2"])
    for name, fraction_target in targets.items():
        result = measure(tensor_case(name, args.size, torch.float32, "cpu", *INITIALIZERS[name], ()),
                         args.repeat, "cpu")
        fraction, speedup = result["of_reference"], result["speedup"]
        print(f"| {name} of fill_ ({speedup:.1f}× stock) | {fraction:.2f} | ≥ {fraction_target} "
              f"| {_verdict(fraction >= fraction_target)} |")

    per_call = tensor_case("kaiming_uniform_", "small", torch.float32, "cpu", *INITIALIZERS["kaiming_uniform_"], ())
    result = measure(per_call, args.repeat, "cpu")
    stock_us, fast_us, fill_us = (result[k]["median"] / result["calls"] * 1e6 for k in ("stock", "fastinit", "reference"))
    per_call_target = PER_CALL_TARGET_US.get(kernels, PER_CALL_TARGET_US["avx2"])
    print(f"| 64x64 kaiming_uniform_ per call (stock {stock_us:.1f} µs, fill_ {fill_us:.1f} µs) "
          f"| {fast_us:.1f} µs | ≤ {per_call_target} µs | {_verdict(fast_us <= per_call_target)} |")

    elements = 8192 * 8192 if args.size == "huge" else 1024 * 1024
    for name, (_, bfloat16, float16) in relative_rates(elements, args.repeat, args.rounds).items():
        for dtype, rate in (("bfloat16", bfloat16), ("float16", float16)):
            print(f"| {name} {dtype} elements/s over float32 | {rate:.2f}× | ≥ {SIXTEEN_BIT_TARGET} "
                  f"| {_verdict(rate >= SIXTEEN_BIT_TARGET)} |")

    tensor = torch.empty(elements)
    for name in SCALING:
        fill = INITIALIZERS[name][1]
        seconds = {}
        for count in (1, threads):
            torch.set_num_threads(count)
            seconds[count] = median_seconds(lambda: fill(tensor), args.repeat)
        torch.set_num_threads(threads)
        print(f"| {name}: 1 thread {seconds[1] * 1e3:.1f} ms, {threads} threads {seconds[threads] * 1e3:.1f} ms "
              f"| {seconds[1] / seconds[threads]:.2f}× | scales | |")


if __name__ == "__main__":
    main()
