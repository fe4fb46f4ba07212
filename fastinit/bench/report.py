"""fastinit's benchmark report: stock torch.nn.init against fastinit, with
a reference of the same bytes (fill_(1.0) for fills, allocate-and-zero for
model builds) measured in the same rounds.

    python -m fastinit.bench [--quick | --full] [--device cpu|cuda]
        [--dtype float32|bfloat16|float16|float64] [--threads N]
        [--sizes small,medium,huge] [--only NAME ...] [--repeat R]
        [--out DIR] [--compare OLD.json]

Prints a markdown table, and writes report.json and report.png to the
output folder it names.
"""

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from .._ops import ops
from .cases import all_cases


def machine() -> dict:
    """The host as the report names it: the CPU's model name with its family
    and model numbers (a VM's name alone, such as "AMD EPYC", does not tell
    a Zen 3 from a Zen 4), thread count, torch and the kernels that ran."""
    cpu = platform.processor() or platform.machine()
    try:
        fields = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if not key.strip():
                break  # the first processor's block is enough
            fields.setdefault(key.strip(), value.strip())
        if "model name" in fields:
            cpu = f"{fields['model name']} (family {fields.get('cpu family', '?')}, model {fields.get('model', '?')})"
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_kernels": ops.cpu_kernels(),
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
    """A warm-up, then `repeat` interleaved rounds of (reference, stock,
    fastinit), so that all three see the same machine state. Keeps the
    median and the best of each; ratios from both (the best is what a quiet
    machine gives, the median what this one gave); rounds slower than twice
    the best count as outliers. A case without a reference has None for
    it and its ratios."""
    stock_fn, fast_fn, reference_fn, nbytes = case.setup()
    time_one = _timer(device)
    timed = [(key, fn) for key, fn in (("reference", reference_fn), ("stock", stock_fn), ("fastinit", fast_fn))
             if fn is not None]
    for _, fn in timed:
        fn()
    times = {key: [] for key, _ in timed}
    for _ in range(repeat):
        for key, fn in timed:
            times[key].append(time_one(fn))
    result = {"case": case.name, "size": case.size, "bytes": nbytes, "calls": case.calls,
              "reference_name": case.reference, "reference": None}
    for key, samples in times.items():
        best = min(samples)
        result[key] = {"median": statistics.median(samples), "min": best, "max": max(samples),
                       "outliers": sum(t > 2 * best for t in samples)}
    result["speedup"] = result["stock"]["median"] / result["fastinit"]["median"]
    result["speedup_best"] = result["stock"]["min"] / result["fastinit"]["min"]
    result["fastinit_gbps"] = nbytes / result["fastinit"]["median"] / 1e9
    reference = result["reference"]
    result["of_reference"] = reference and reference["median"] / result["fastinit"]["median"]
    result["of_reference_best"] = reference and reference["min"] / result["fastinit"]["min"]
    return result


def _ms(seconds: float, calls: int) -> str:
    if calls > 1:
        return f"{seconds / calls * 1e6:.1f} µs/call"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.1f} ms"


def table(results: list[dict]) -> str:
    lines = [
        "| case | size | stock | fastinit (best) | speedup (best) | fastinit GB/s | reference | reference time "
        "| reference ÷ fastinit time (best) | outlier rounds stock / fastinit / reference |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        reference = r["reference"]
        outliers = " / ".join(str(r[key]["outliers"]) if r[key] else "–" for key in ("stock", "fastinit", "reference"))
        if reference is None:
            against = "none (a fill is no yardstick for O(n³) work) | – | –"
        else:
            against = (f"{r['reference_name']} | {_ms(reference['median'], r['calls'])} | "
                       f"{r['of_reference']:.2f} ({r['of_reference_best']:.2f})")
        lines.append(
            f"| {r['case']} | {r['size']} | {_ms(r['stock']['median'], r['calls'])} | "
            f"{_ms(r['fastinit']['median'], r['calls'])} ({_ms(r['fastinit']['min'], r['calls'])}) | "
            f"{r['speedup']:.1f}× ({r['speedup_best']:.1f}×) | {r['fastinit_gbps']:.2f} | {against} | {outliers} |"
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


def _times_label(value: float) -> str:
    return f"{value:.0f}×" if value >= 10 else f"{value:.1f}×" if value >= 1 else f"{value:.2f}×"


def chart(results: list[dict], path: Path, title: str) -> None:
    """Two panels with every bar labelled: the speedup over stock (log
    scale, ticks as 1×, 10×, 100×) and the reference's time over
    fastinit's (log scale too, so small and large values both show; 1 =
    as fast as the reference; rows without a reference say so there)."""
    plt = pyplot()
    from matplotlib.ticker import FuncFormatter
    from matplotlib.transforms import blended_transform_factory

    labels = [f"{r['case']} [{r['size']}]" for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 0.45 * len(results) + 2.2), sharey=True)
    y = list(range(len(results)))
    panels = ((left, "speedup", "#3b7dd8", "speedup over stock torch.nn.init (median of rounds)", lambda r: ""),
              (right, "of_reference", "#e07b39", "reference time ÷ fastinit time (1× = as fast as the reference)",
               lambda r: f" of {r['reference_name']}"))
    for axis, key, color, xlabel, suffix in panels:
        rows = [(row, r[key], r) for row, r in zip(y, results) if r[key] is not None]
        values = [value for _, value, _ in rows]
        axis.barh([row for row, _, _ in rows], values, color=color, zorder=2)
        axis.set_xscale("log")
        # Room on the right for the longest label: a decade for "0.68× of
        # allocate + zero_", a factor 3 for "62×".
        axis.set_xlim(min(min(values) / 2, 0.5), max(max(values) * (10 if key == "of_reference" else 3), 2))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _times_label(v)))
        axis.axvline(1.0, color="black", linewidth=0.8, zorder=1)
        axis.set_xlabel(xlabel)
        label_box = {"facecolor": "white", "edgecolor": "none", "pad": 1.0}
        for row, value, r in rows:
            axis.text(value * 1.08, row, _times_label(value) + suffix(r), va="center", fontsize=8, zorder=3,
                      bbox=label_box)
        from_left_edge = blended_transform_factory(axis.transAxes, axis.transData)
        for row, r in zip(y, results):
            if r[key] is None:
                axis.text(0.02, row, "no reference (a fill is no yardstick for O(n³) work)", va="center", fontsize=8,
                          color="#555555", zorder=3, bbox=label_box, transform=from_left_edge)
    left.set_yticks(y, labels)
    left.invert_yaxis()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sizes_line(results: list[dict]) -> str:
    """What the size names of the cases that ran mean."""
    from .cases import SIZES

    used = [name for name in SIZES if any(r["size"] == name for r in results)]
    return ", ".join(f"{name} = {'x'.join(map(str, SIZES[name]))}" + (" (per call)" if name == "small" else "")
                     for name in used)


def pyplot():
    """matplotlib.pyplot drawing to files (the Agg backend: no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def progress(items: list, desc: str, label, unit: str):
    """The items, with a progress bar `desc` naming the current item
    (`label(item)`) on a terminal, and one plain line per item otherwise (a
    log file)."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(items, desc=desc, unit=unit, file=sys.stderr)
        for item in bar:
            bar.set_postfix_str(label(item))
            yield item
    else:
        for index, item in enumerate(items, 1):
            print(f"[{index}/{len(items)}] {label(item)}", file=sys.stderr, flush=True)
            yield item


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default only where it has one (not None, not an
    off switch)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fastinit-bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="a few-second subset: medium sizes, per call, orthogonal, reset")
    mode.add_argument("--full", action="store_true", help="every case, including GPT-2 XL")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="where the tensors live; cuda times with CUDA events")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16", "float64"],
                        help="dtype of the single-tensor cases (model builds stay float32)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads for stock and fastinit alike (default: torch's, all cores)")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated subset of small,medium,huge (default: every size of the mode)")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME",
                        help="run only the cases whose name contains one of these")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per case (>= 5 recommended)")
    parser.add_argument("--out", default="bench-out", help="folder for report.json and report.png")
    parser.add_argument("--compare", default=None, metavar="OLD.json",
                        help="an earlier report.json to compare with")
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

    info = machine()
    started = time.perf_counter()
    named = progress(cases, "fastinit.bench", lambda case: f"{case.name} [{case.size}]", unit="case")
    results = [measure(case, args.repeat, args.device) for case in named]
    elapsed = time.perf_counter() - started

    header = (f"machine: {info['cpu']}; {info['threads']} threads; torch {info['torch']}; "
              f"fastinit CPU kernels: {info['cpu_kernels']}" + (f"; GPU: {info['gpu']}" if "gpu" in info else ""))
    print(header)
    print(f"device {args.device}, dtype {args.dtype}, warm memory (tensors allocated and touched before "
          f"timing; the build cases allocate fresh memory); a warm-up, then {args.repeat} interleaved rounds of "
          "reference, stock and fastinit: medians, with the best round in brackets; an outlier round took more "
          "than twice the best\n")
    print(table(results))
    print(f"\n{len(results)} cases in {elapsed:.0f} s")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"machine": info, "device": args.device, "dtype": args.dtype, "repeat": args.repeat,
              "mode": group, "seconds": elapsed, "results": results}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    chart(results, out / "report.png", f"{header}\n{args.device}, {args.dtype}, {sizes_line(results)}; "
          f"median of {args.repeat} interleaved rounds")
    print(f"wrote {out / 'report.json'} and {out / 'report.png'}")
    if args.compare:
        print("\n" + compare(json.loads(Path(args.compare).read_text()), report))
    return 0

