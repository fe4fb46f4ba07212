"""Issue #3's figures on this machine, each beside its target, from one
process.

    python benchmarks/cpu_targets.py [--repeat 5] [--size huge] [--rounds 3]

- Large fills: stock, fastinit and fill_(1.0) on one 64 Mi-element float32
  tensor (--size), taken in turn in every repetition (as `python -m
  fastinit.bench`); "of fill_" is fill_'s time over fastinit's.
- Per call: 64 x 64 kaiming_uniform_, 200 calls per repetition.
- Threads: fastinit's time on 1 thread over its time on all threads.
- 16-bit: bfloat16 elements/s over float32's (benchmarks/low_precision.py).

The targets were set on a 2-core AVX-512 machine; the first line printed
says which instruction set ran here.
"""

import argparse

import torch

from fastinit.bench.cases import INITIALIZERS, tensor_case
from fastinit.bench.report import machine, measure, median_seconds
from low_precision import relative_rates

# initializer: (least fraction of fill_, least speedup over stock)
FILL_TARGETS = {
    "uniform_": (0.6, 12.0),
    "kaiming_uniform_": (0.6, 12.0),
    "xavier_uniform_": (0.6, 12.0),
    "normal_": (0.4, 10.0),
    "kaiming_normal_": (0.4, 10.0),
    "xavier_normal_": (0.4, 10.0),
    "trunc_normal_": (0.3, 15.0),
}
PER_CALL_TARGET_US = 5.0
BFLOAT16_TARGET = 1.0
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

    for name, (fraction_target, speedup_target) in FILL_TARGETS.items():
        result = measure(tensor_case(name, args.size, torch.float32, "cpu", *INITIALIZERS[name], ()),
                         args.repeat, "cpu")
        fraction, speedup = result["of_reference"], result["speedup"]
        print(f"| {name} of fill_ | {fraction:.2f} | ≥ {fraction_target} | {_verdict(fraction >= fraction_target)} |")
        print(f"| {name} vs stock | {speedup:.1f}× | ≥ {speedup_target:.0f}× | {_verdict(speedup >= speedup_target)} |")

    per_call = tensor_case("kaiming_uniform_", "small", torch.float32, "cpu", *INITIALIZERS["kaiming_uniform_"], ())
    result = measure(per_call, args.repeat, "cpu")
    stock_us, fast_us, fill_us = (result[k]["median"] / result["calls"] * 1e6 for k in ("stock", "fastinit", "reference"))
    print(f"| 64x64 kaiming_uniform_ per call (stock {stock_us:.1f} µs, fill_ {fill_us:.1f} µs) "
          f"| {fast_us:.1f} µs | ≤ {PER_CALL_TARGET_US:.0f} µs | {_verdict(fast_us <= PER_CALL_TARGET_US)} |")

    elements = 8192 * 8192 if args.size == "huge" else 1024 * 1024
    for name, (base, bfloat16, _) in relative_rates(elements, args.repeat, args.rounds).items():
        if name in ("uniform_", "normal_"):
            print(f"| {name} bfloat16 elements/s over float32 | {bfloat16:.2f}× | ≥ {BFLOAT16_TARGET} "
                  f"| {_verdict(bfloat16 >= BFLOAT16_TARGET)} |")

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
