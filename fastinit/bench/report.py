"""fastinit's benchmark report: stock torch.nn.init against fastinit, with
the fill_(1.0) roofline of the same bytes measured in the same run.

    python -m fastinit.bench [--quick | --full] [--device cpu|cuda]
        [--dtype float32|bfloat16|float16|float64] [--threads N]
        [--sizes small,medium,huge] [--only NAME ...] [--repeat R]
        [--out DIR] [--compare OLD.json]

Prints a markdown table, and writes report.json and report.png to the
output folder it names.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from .cases import all_cases


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_kernels": torch.ops.fastinit.cpu_kernels(),
        "python": platform.python_version(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def _timer(device: str):
    if device == "cuda":
        def time_one(fn):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3
    else:
        def time_one(fn):
            start = time.perf_counter()
            fn()
            return time.perf_counter() - start
    return time_one


def median_seconds(fn, repeat: int = 5, device: str = "cpu") -> float:
    """The median time of `repeat` calls of `fn`, after one warm-up call."""
    time_one = _timer(device)
    fn()
    return statistics.median(time_one(fn) for _ in range(repeat))


def measure(case, repeat: int, device: str) -> dict:
    """Warm-up, then `repeat` rounds of (roofline, stock, fastinit), so that
    all three see the same machine state; medians and min/max."""
    stock_fn, fast_fn, roofline_fn, nbytes = case.setup()
    time_one = _timer(device)
    for fn in (roofline_fn, stock_fn, fast_fn):
        fn()
    times = {"roofline": [], "stock": [], "fastinit": []}
    for _ in range(repeat):
        for key, fn in (("roofline", roofline_fn), ("stock", stock_fn), ("fastinit", fast_fn)):
            times[key].append(time_one(fn))
    result = {"case": case.name, "size": case.size, "bytes": nbytes, "calls": case.calls}
    for key, samples in times.items():
        result[key] = {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}
    result["speedup"] = result["stock"]["median"] / result["fastinit"]["median"]
    result["fastinit_gbps"] = nbytes / result["fastinit"]["median"] / 1e9
    result["roofline_fraction"] = result["roofline"]["median"] / result["fastinit"]["median"]
    return result


def _ms(seconds: float, calls: int) -> str:
    if calls > 1:
        return f"{seconds / calls * 1e6:.1f} µs/call"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.1f} ms"


def table(results: list[dict]) -> str:
    lines = [
        "| case | size | stock | fastinit | speedup | fastinit GB/s | roofline | fraction of roofline |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['case']} | {r['size']} | {_ms(r['stock']['median'], r['calls'])} | "
            f"{_ms(r['fastinit']['median'], r['calls'])} | {r['speedup']:.1f}× | {r['fastinit_gbps']:.2f} | "
            f"{_ms(r['roofline']['median'], r['calls'])} | {r['roofline_fraction']:.2f} |"
        )
    return "\n".join(lines)


def compare(old: dict, new: dict) -> str:
    before = {(r["case"], r["size"]): r for r in old["results"]}
    lines = ["| case | size | fastinit before | fastinit now | change |", "|---|---|---:|---:|---:|"]
    for r in new["results"]:
        o = before.get((r["case"], r["size"]))
        if o is None:
            continue
        change = o["fastinit"]["median"] / r["fastinit"]["median"]
        lines.append(f"| {r['case']} | {r['size']} | {_ms(o['fastinit']['median'], o['calls'])} | "
                     f"{_ms(r['fastinit']['median'], r['calls'])} | {change:.2f}× faster |")
    return "\n".join(lines)


def chart(results: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['case']} [{r['size']}]" for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.42 * len(results) + 1.8), sharey=True)
    y = range(len(results))
    left.barh(y, [r["speedup"] for r in results], color="#3b7dd8")
    left.set_xscale("log")
    left.set_xlabel("speedup over stock torch.nn.init (log)")
    left.axvline(1.0, color="black", linewidth=0.8)
    left.set_yticks(list(y), labels)
    left.invert_yaxis()
    right.barh(y, [r["roofline_fraction"] for r in results], color="#e07b39")
    right.set_xlabel("fraction of the roofline (fill_ of the same bytes)")
    right.axvline(1.0, color="black", linewidth=0.8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fastinit-bench", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a < 30 s subset")
    mode.add_argument("--full", action="store_true", help="every case, including GPT-2 XL")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16", "float64"])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: all cores)")
    parser.add_argument("--sizes", default=None, help="comma-separated subset of small,medium,huge")
    parser.add_argument("--only", nargs="+", default=None, help="case names (substrings) to run")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions per case (>= 5 recommended)")
    parser.add_argument("--out", default="bench-out", help="folder for report.json and report.png")
    parser.add_argument("--compare", default=None, help="an earlier report.json to compare with")
    args = parser.parse_args(argv)

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no GPU is available")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    group = "quick" if args.quick else "full" if args.full else "default"
    cases = [c for c in all_cases(args.device, getattr(torch, args.dtype)) if group in c.groups]
    if args.sizes:
        wanted = set(args.sizes.split(","))
        cases = [c for c in cases if c.size in wanted]
    if args.only:
        cases = [c for c in cases if any(o in c.name for o in args.only)]

    from tqdm import tqdm

    info = machine()
    started = time.perf_counter()
    results = []
    for case in tqdm(cases, desc="fastinit.bench", unit="case", file=sys.stderr):
        results.append(measure(case, args.repeat, args.device))
    elapsed = time.perf_counter() - started

    header = (f"machine: {info['cpu']}; {info['threads']} threads; torch {info['torch']}; "
              f"fastinit CPU kernels: {info['cpu_kernels']}" + (f"; GPU: {info['gpu']}" if "gpu" in info else ""))
    print(header)
    print(f"device {args.device}, dtype {args.dtype}, warm memory (tensors allocated and touched before "
          f"timing; the build cases allocate fresh memory), median of {args.repeat} after a warm-up; "
          f"roofline = fill_(1.0) of the same bytes (for builds: allocate + zero)\n")
    print(table(results))
    print(f"\n{len(results)} cases in {elapsed:.0f} s")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"machine": info, "device": args.device, "dtype": args.dtype, "repeat": args.repeat,
              "mode": group, "seconds": elapsed, "results": results}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    chart(results, out / "report.png", header)
    print(f"wrote {out / 'report.json'} and {out / 'report.png'}")
    if args.compare:
        print("\n" + compare(json.loads(Path(args.compare).read_text()), report))
    return 0

