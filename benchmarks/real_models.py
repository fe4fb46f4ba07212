"""Building real model shapes four ways, each in a fresh process: stock,
under fastinit.patched(), under fastinit.patched(defer_fills=True), and on
the meta device + fastinit.materialize(); beside them the allocate-and-zero
floor for the same bytes and every step's peak RSS.

    python benchmarks/real_models.py [--only llama bert] [--repeat 1] [--small]

Models (configs only, no weights): transformers' Llama-3.2-3B shape in
bfloat16 and float32, BERT-base and T5-base; timm's vit_large_patch16_224
and convnext_base. materialize runs each model's own init_weights (ConvNeXt
has none: it gets rules restating timm's init, materialize_rules). `--small`
builds tiny models of the same code (a smoke test).

The floor is the faster of two ways to allocate the same bytes and zero
them: materialize's flat allocation, whose pages zero_() faults in, and the
same allocation populated by the kernel first (FASTINIT_POPULATE=1).
Ratios are of medians over `--repeat` fresh processes per step; the steps
take turns (stock, patched, deferred, materialize, floors, then again), so
that each meets the host's fresh memory in the same state as the others: on
a VM it varies by 2-3x from minute to minute.
"""

import argparse
import json
import statistics
import subprocess
import sys

CASES = [  # (model name in fastinit.bench.models.REAL_MODELS, dtype)
    ("llama-3.2-3b", "bfloat16"),
    ("llama-3.2-3b", "float32"),
    ("vit_large_patch16_224", "float32"),
    ("convnext_base", "float32"),
    ("bert-base", "float32"),
    ("t5-base", "float32"),
]

STEPS = {
    "stock": "model = real_model(NAME, SMALL)",
    "patched": "with fastinit.patched():\n    model = real_model(NAME, SMALL)",
    "deferred": "with fastinit.patched(defer_fills=True):\n    model = real_model(NAME, SMALL)",
    "materialize": "with fastinit.patched():  # the initializers that run on meta in __init__ cost nothing\n    meta_model = real_model(NAME, SMALL, device='meta')\nmodel = materialize_or_none(meta_model, materialize_rules(NAME))",
    "floor": "flat = allocate_and_zero(NBYTES)",
    "populated floor": "flat = allocate_and_zero(NBYTES, populate=True)",
}

TEMPLATE = """
import resource, time, json, warnings, torch, fastinit
from fastinit.bench.models import allocate_and_zero, materialize_rules, real_model
warnings.simplefilter("ignore")
NAME, SMALL = {name!r}, {small!r}
torch.set_default_dtype(torch.{dtype})
meta = real_model(NAME, SMALL, device='meta')
unique = {{id(t): t for t in list(meta.parameters()) + list(meta.buffers())}}
NBYTES = sum(t.numel() * t.element_size() for t in unique.values())
del meta, unique
refused = None


def materialize_or_none(model, rules):
    global refused
    try:
        return fastinit.materialize(model, rules=rules)
    except ValueError as e:  # no init protocol and a tensor no rule covers
        refused = str(e).split(";")[0]
before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
{step}
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                   "rss_before_mb": before_mb, "bytes": NBYTES, "refused": refused}}))
"""


def run(name: str, dtype: str, step: str, small: bool) -> dict:
    code = TEMPLATE.format(name=name, dtype=dtype, step=STEPS[step], small=small)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{name} {dtype} {step} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--only", nargs="+", default=None, help="model names (substrings) to run")
    parser.add_argument("--repeat", type=int, default=1, help="fresh processes per step")
    parser.add_argument("--small", action="store_true", help="tiny models of the same code (smoke test)")
    args = parser.parse_args(argv)

    from fastinit.bench.models import library_available

    cases = [(n, d) for n, d in CASES if args.only is None or any(o in n for o in args.only)]
    print(f"fresh process per step, median of {args.repeat}; floor = the faster of two allocations of the same "
          "bytes + zero_() (both listed below); peak RSS includes ~0.7 GB that importing torch takes\n")
    print("deferred = patched(defer_fills=True)\n")
    print("| model | dtype | GB | stock s | patched s | deferred s | materialize s | floor s | stock ÷ patched | "
          "stock ÷ deferred | stock ÷ materialize | patched ÷ floor | deferred ÷ floor | materialize ÷ floor | "
          "peak RSS GB stock / patched / deferred / materialize |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    notes, floors = [], []
    for name, dtype in cases:
        if not library_available(name):
            print(f"| {name} | {dtype} | skipped: its library is not installed |")
            continue
        samples = {step: [] for step in STEPS}
        for _ in range(args.repeat):
            for step in STEPS:
                samples[step].append(run(name, dtype, step, args.small))
        t = {step: statistics.median(s["seconds"] for s in runs) for step, runs in samples.items()}
        rss = {step: statistics.median(s["peak_rss_mb"] for s in runs) / 1024 for step, runs in samples.items()}
        floors.append(f"{name} {dtype}: faulted in {t['floor']:.2f} s, populated {t['populated floor']:.2f} s")
        t["floor"] = min(t["floor"], t.pop("populated floor"))
        gb = samples["floor"][0]["bytes"] / 1e9
        refused = samples["materialize"][0]["refused"]
        m = "refused¹" if refused else f"{t['materialize']:.2f}"
        stock_over_m = "–" if refused else f"{t['stock'] / t['materialize']:.1f}×"
        m_over_floor = "–" if refused else f"{t['materialize'] / t['floor']:.2f}"
        print(f"| {name} | {dtype} | {gb:.2f} | {t['stock']:.2f} | {t['patched']:.2f} | {t['deferred']:.2f} | {m} | "
              f"{t['floor']:.2f} | {t['stock'] / t['patched']:.1f}× | {t['stock'] / t['deferred']:.1f}× | "
              f"{stock_over_m} | {t['patched'] / t['floor']:.2f} | {t['deferred'] / t['floor']:.2f} | {m_over_floor} | "
              f"{rss['stock']:.1f} / {rss['patched']:.1f} / {rss['deferred']:.1f} / {rss['materialize']:.1f} |",
              flush=True)
        if refused:
            notes.append(f"¹ {name}: {refused[:240]}")
    print("\nfloors: " + "; ".join(floors))
    for note in notes:
        print("\n" + note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
