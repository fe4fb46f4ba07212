"""Benchmark report: stock torch.nn.init against fastinit, with fill_ as the
memory roofline, measured in one process.

    python -m fastinit.bench [--numel N] [--threads T] [--repeat R] [--only NAME ...]

Every case fills the same warm (already faulted-in) tensor; times are medians
of R repetitions after one warm-up. The ratio to fill_(1.0) shows how close a
fill comes to the speed of writing memory.
"""

import argparse
import math
import platform
import statistics
import time

import torch
import torch.nn.init as stock

import fastinit.init as fast


def _median_seconds(fn, repeat: int) -> tuple[float, float, float]:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def _square_shape(numel: int) -> tuple[int, int]:
    rows = 1 << (int(math.log2(numel)) // 2)
    return rows, numel // rows


# name -> (stock call, fastinit call); each takes the destination tensor.
CASES = {
    "uniform_": (lambda t: stock.uniform_(t, -1, 1), lambda t: fast.uniform_(t, -1, 1)),
    "normal_": (lambda t: stock.normal_(t, 0, 0.02), lambda t: fast.normal_(t, 0, 0.02)),
    "trunc_normal_": (lambda t: stock.trunc_normal_(t, std=0.02), lambda t: fast.trunc_normal_(t, std=0.02)),
    "kaiming_uniform_": (lambda t: stock.kaiming_uniform_(t, a=math.sqrt(5)), lambda t: fast.kaiming_uniform_(t, a=math.sqrt(5))),
    "kaiming_normal_": (stock.kaiming_normal_, fast.kaiming_normal_),
    "xavier_uniform_": (stock.xavier_uniform_, fast.xavier_uniform_),
    "xavier_normal_": (stock.xavier_normal_, fast.xavier_normal_),
}


def machine_summary(threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}; {threads} threads; torch {torch.__version__}"


def per_call_cost(repeat: int) -> tuple[float, float]:
    """Median microseconds per call of kaiming_uniform_ on a 64x64 tensor."""
    w = torch.empty(64, 64)
    calls = 2000

    def loop(fn):
        def run():
            for _ in range(calls):
                fn(w, a=math.sqrt(5))

        return run

    stock_s = _median_seconds(loop(stock.kaiming_uniform_), repeat)[0]
    fast_s = _median_seconds(loop(fast.kaiming_uniform_), repeat)[0]
    return stock_s / calls * 1e6, fast_s / calls * 1e6


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numel", type=int, default=64 * 1024 * 1024, help="elements per tensor (default 64 Mi)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64", "bfloat16", "float16"])
    parser.add_argument("--only", nargs="*", default=None, help="case names to run")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    shape = _square_shape(args.numel)
    tensor = torch.empty(shape, dtype=dtype)
    gigabytes = tensor.numel() * tensor.element_size() / 1e9
    fill_s = _median_seconds(lambda: tensor.fill_(1.0), args.repeat)[0]

    print(f"machine: {machine_summary(args.threads)}")
    print(f"tensor: {shape[0]}x{shape[1]} {args.dtype} ({gigabytes * 1e3:.0f} MB, warm memory); "
          f"median of {args.repeat}; fill_(1.0): {fill_s * 1e3:.1f} ms = {gigabytes / fill_s:.1f} GB/s\n")
    print("| case | stock ms | fastinit ms | speedup | fastinit GB/s | fraction of fill_ |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (stock_fn, fast_fn) in CASES.items():
        if args.only and name not in args.only:
            continue
        stock_s = _median_seconds(lambda: stock_fn(tensor), args.repeat)[0]
        fast_s = _median_seconds(lambda: fast_fn(tensor), args.repeat)[0]
        print(f"| {name} | {stock_s * 1e3:.1f} | {fast_s * 1e3:.1f} | {stock_s / fast_s:.1f}x | "
              f"{gigabytes / fast_s:.2f} | {fill_s / fast_s:.2f} |")
    if not args.only or "per_call" in args.only:
        stock_us, fast_us = per_call_cost(args.repeat)
        print(f"\nper call, kaiming_uniform_ on 64x64: stock {stock_us:.1f} us, fastinit {fast_us:.1f} us")


if __name__ == "__main__":
    main()
