"""fastinit's quality study: the classic MNIST CNN trained under each
torch.nn.init scheme with stock torch.nn.init and with fastinit.init over
several seeds, a verdict per scheme on whether fastinit trains like stock,
and signal propagation at initialization in deep networks.

    python -m fastinit.study [--quick] [--device cpu|cuda] [--seeds N]
        [--epochs N] [--schemes NAME ...] [--threads N] [--out DIR]

Prints markdown tables (loss and accuracy per epoch, the verdicts) and
writes study.json, training.png and propagation.png to the output folder.
"""

import argparse
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from ..bench.report import HelpFormatter, machine, progress, pyplot
from . import equivalence, propagation, training

QUICK = {"schemes": ["zeros_", "normal_(0,1)", "xavier_uniform_", "kaiming_uniform_"], "seeds": 4,
         "epochs": 2}
FULL = {"schemes": list(training.SCHEMES), "seeds": 10, "epochs": 5}
IMPLEMENTATIONS = list(training.IMPLEMENTATIONS)


def run_training(schemes, seeds: range, epochs: int, device: str) -> list[dict]:
    """Every (scheme, implementation, seed) run, seeds innermost."""
    data = training.load_digits(device)
    plan = [(scheme, implementation, seed) for scheme in schemes for implementation in IMPLEMENTATIONS
            for seed in seeds]
    runs = []
    for scheme, implementation, seed in progress(plan, "fastinit.study: training",
                                                 lambda run: f"{run[0]} · {run[1]} · seed {run[2]}", unit="run"):
        model = training.build(training.DigitsCNN, scheme, implementation, seed, device)
        runs.append({"scheme": scheme, "implementation": implementation, "seed": seed,
                     **training.train(model, data, seed, epochs)})
    return runs


def runs_of(runs: list[dict], scheme: str, implementation: str) -> list[dict]:
    return sorted((r for r in runs if r["scheme"] == scheme and r["implementation"] == implementation),
                  key=lambda r: r["seed"])


def run_propagation(schemes, device: str, seeds: int = 3) -> list[dict]:
    """Per network, scheme and implementation, the spreads per block as the
    geometric mean over `seeds` seeds: one draw of a deep network's weights
    wanders by a random factor from block to block, and the picture is
    about the trend."""
    plan = [(network, scheme, implementation) for network in propagation.NETWORKS for scheme in schemes
            for implementation in IMPLEMENTATIONS]
    measured = []
    for network, scheme, implementation in progress(plan, "fastinit.study: propagation",
                                                    lambda item: f"{item[0].name} · {item[1]} · {item[2]}",
                                                    unit="network"):
        draws = [propagation.measure(network, scheme, implementation, seed, device) for seed in range(seeds)]
        with np.errstate(divide="ignore", invalid="ignore"):  # zero spreads: log 0 = -inf, mean 0
            spreads = {direction: np.exp(np.log([d[direction] for d in draws]).mean(axis=0)).tolist()
                       for direction in ("forward", "backward")}
        measured.append({"network": network.name, "scheme": scheme, "implementation": implementation,
                         "seeds": seeds, **spreads})
    return measured


def _number(value: float) -> str:
    if not math.isfinite(value):
        return "nan"
    return f"{value:.3f}" if 1e-3 <= abs(value) < 1e3 or value == 0 else f"{value:.2e}"


def _spread(values) -> str:
    """Mean ± standard deviation of the finite values, and how many were
    not finite (diverged runs)."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    diverged = f"nan in {len(values) - len(finite)}/{len(values)}" if len(finite) < len(values) else ""
    if not len(finite):
        return diverged
    spread = finite.std(ddof=1) if len(finite) > 1 else 0.0
    if spread <= 1e-9 * abs(finite.mean()):  # equal values, up to the rounding of the sum
        spread = 0.0
    cell = f"{_number(finite.mean())} ± {_number(spread)}"
    return f"{cell} ({diverged})" if diverged else cell


def per_epoch_table(runs: list[dict], schemes, metric: str) -> str:
    """Rows: schemes; columns: each epoch's stock and fastinit mean ± the
    standard deviation across seeds."""
    epochs = len(runs[0][metric])
    header = "| scheme | " + " | ".join(f"epoch {e + 1} stock | epoch {e + 1} fastinit" for e in range(epochs)) + " |"
    lines = [header, "|---|" + "---:|" * (2 * epochs)]
    for scheme in schemes:
        stock, fast = runs_of(runs, scheme, "stock"), runs_of(runs, scheme, "fastinit")
        cells = [_spread([r[metric][e] for r in side]) for e in range(epochs) for side in (stock, fast)]
        lines.append(f"| {scheme} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(runs: list[dict], schemes) -> dict:
    return {scheme: equivalence.verdict(runs_of(runs, scheme, "stock"), runs_of(runs, scheme, "fastinit"))
            for scheme in schemes}


def verdict_table(results: dict) -> str:
    lines = ["| scheme | final loss: fastinit ÷ stock [90% CI] | final accuracy: fastinit − stock [90% CI] "
             "| verdict |", "|---|---:|---:|---|"]
    for scheme, v in results.items():
        loss, accuracy = v["loss"], v["accuracy"]
        if "diverged" in loss:
            loss_cell = f"diverged in {loss['diverged'][0]} stock, {loss['diverged'][1]} fastinit runs"
        else:
            loss_cell = f"{loss['ratio']:.3f} [{loss['interval'][0]:.3f}, {loss['interval'][1]:.3f}]"
        low, high = accuracy["interval"]
        accuracy_cell = f"{accuracy['difference']:+.4f} [{low:+.4f}, {high:+.4f}]"
        lines.append(f"| {scheme} | {loss_cell} ({loss['verdict']}) | {accuracy_cell} ({accuracy['verdict']}) "
                     f"| **{v['verdict']}** |")
    return "\n".join(lines)


STYLE = {"stock": {"color": "#3b7dd8", "linestyle": "-"}, "fastinit": {"color": "#e07b39", "linestyle": "--"}}


def training_chart(runs: list[dict], schemes, path: Path, title: str) -> None:
    """Per scheme, the training loss (log scale) over the panel of its
    accuracy: mean across seeds, the band from the lowest to the highest
    seed, stock and fastinit overlaid."""
    plt = pyplot()
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    columns = min(5, len(schemes))
    groups = math.ceil(len(schemes) / columns)
    fig, axes = plt.subplots(2 * groups, columns, figsize=(3.2 * columns, 4.6 * groups), squeeze=False)
    for index, scheme in enumerate(schemes):
        group, column = divmod(index, columns)
        for row, metric in enumerate(("loss", "accuracy")):
            axis = axes[2 * group + row][column]
            for implementation in IMPLEMENTATIONS:
                values = np.array([r[metric] for r in runs_of(runs, scheme, implementation)], dtype=np.float64)
                values[~np.isfinite(values)] = np.nan  # diverged runs leave the mean and the band
                epochs = np.arange(1, values.shape[1] + 1)
                with warnings.catch_warnings():  # an epoch where every run diverged has no mean
                    warnings.simplefilter("ignore", RuntimeWarning)
                    axis.plot(epochs, np.nanmean(values, axis=0), label=implementation, **STYLE[implementation])
                    axis.fill_between(epochs, np.nanmin(values, axis=0), np.nanmax(values, axis=0), alpha=0.2,
                                      color=STYLE[implementation]["color"])
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            if metric == "loss":
                shown = np.array([r["loss"] for r in runs if r["scheme"] == scheme], dtype=np.float64)
                shown = shown[np.isfinite(shown)]
                if len(shown) and shown.max() > 3 * shown.min():  # a log scale only where losses differ by factors
                    axis.set_yscale("log", nonpositive="clip")
                    axis.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                    axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
                    axis.yaxis.set_minor_formatter(NullFormatter())
                else:
                    axis.ticklabel_format(axis="y", useOffset=False)
                axis.set_title(scheme, fontsize=9)
            else:
                axis.set_ylim(0, 1)
                axis.set_xlabel("epoch")
            if column == 0:
                axis.set_ylabel("training loss" if metric == "loss" else "held-out accuracy")
    for index in range(len(schemes), groups * columns):
        group, column = divmod(index, columns)
        axes[2 * group][column].axis("off")
        axes[2 * group + 1][column].axis("off")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


FLOOR, CEILING = 1e-12, 1e12  # spreads beyond these (zero, overflow) are drawn on the edge


def propagation_chart(measured: list[dict], schemes, path: Path, title: str) -> None:
    """Rows: networks; columns: forward and backward spreads per block (log
    scale), one colour per scheme, stock solid and fastinit dashed."""
    plt = pyplot()

    networks = list(dict.fromkeys(m["network"] for m in measured))
    colours = dict(zip(schemes, plt.get_cmap("tab10").colors))
    fig, axes = plt.subplots(len(networks), 2, figsize=(12, 2.7 * len(networks)), squeeze=False)
    for row, network in enumerate(networks):
        for column, direction in enumerate(("forward", "backward")):
            axis = axes[row][column]
            for m in measured:
                if m["network"] != network:
                    continue
                values = np.nan_to_num(np.array(m[direction], dtype=np.float64), nan=CEILING, posinf=CEILING)
                axis.plot(np.arange(1, len(values) + 1), np.clip(values, FLOOR, CEILING), color=colours[m["scheme"]],
                          linestyle=STYLE[m["implementation"]]["linestyle"], linewidth=1.2,
                          label=m["scheme"] if m["implementation"] == "stock" else None)
            axis.set_yscale("log")
            axis.set_ylim(FLOOR / 3, CEILING * 3)
            axis.set_title(f"{network}: {'activations' if direction == 'forward' else 'gradients'}", fontsize=9)
            axis.set_ylabel("standard deviation")
            if row == len(networks) - 1:
                axis.set_xlabel("block")
    axes[0][1].legend(fontsize=7, ncol=2, loc="upper right")
    seeds = measured[0]["seeds"]
    fig.suptitle(f"{title}\nstandard deviation per block at initialization, geometric mean over {seeds} seeds; "
                 "solid: stock torch.nn.init, dashed: fastinit; zero and overflow drawn on the bottom and top edges",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fastinit-study", description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"a minute: schemes {', '.join(QUICK['schemes'])}; {QUICK['seeds']} seeds, "
                             f"{QUICK['epochs']} epochs")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"seeds per scheme and implementation (default {FULL['seeds']}, quick {QUICK['seeds']})")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="the seeds are FIRST_SEED onwards (a fresh set replicates a finding)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs (default {FULL['epochs']}, quick {QUICK['epochs']})")
    parser.add_argument("--schemes", nargs="+", default=None, choices=list(training.SCHEMES), metavar="NAME",
                        help=f"a subset of {', '.join(training.SCHEMES)}")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: all cores)")
    parser.add_argument("--out", default="study-out", help="folder for study.json, training.png, propagation.png")
    args = parser.parse_args(argv)

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no GPU is available")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    settings = dict(QUICK if args.quick else FULL)
    for key in ("schemes", "seeds", "epochs"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    if settings["seeds"] < 2:
        parser.error(f"--seeds {settings['seeds']}: the equivalence test needs at least 2 seeds")
    schemes = settings["schemes"]

    info = machine()
    started = time.perf_counter()
    seeds = range(args.first_seed, args.first_seed + settings["seeds"])
    settings["first_seed"] = args.first_seed
    runs = run_training(schemes, seeds, settings["epochs"], args.device)
    results = verdicts(runs, schemes)
    measured = run_propagation(schemes, args.device)
    elapsed = time.perf_counter() - started

    header = (f"machine: {info['cpu']}; {info['threads']} threads; torch {info['torch']}; "
              f"fastinit CPU kernels: {info['cpu_kernels']}" + (f"; GPU: {info['gpu']}" if "gpu" in info else ""))
    setup = (f"DigitsCNN (PyTorch's MNIST example network) on scikit-learn's digits at 28×28, device "
             f"{args.device}; SGD lr 0.01, momentum 0.5, batch 16; {settings['epochs']} epochs; seeds "
             f"{seeds[0]}–{seeds[-1]} for each scheme and implementation")
    print(header)
    print(setup + "; tables: mean ± standard deviation across seeds\n")
    print("Mean training loss per epoch\n")
    print(per_epoch_table(runs, schemes, "loss"))
    print("\nHeld-out accuracy after each epoch (360 images)\n")
    print(per_epoch_table(runs, schemes, "accuracy"))
    print(f"\nIs fastinit equivalent to stock? Two one-sided tests (α = 0.05) on paired seeds: equivalent when the "
          f"90% interval lies inside the margin (loss ratio {1 / equivalence.LOSS_RATIO_MARGIN:.2f}–"
          f"{equivalence.LOSS_RATIO_MARGIN:.2f}, accuracy ±{equivalence.ACCURACY_MARGIN:.2f}), not equivalent "
          "when it lies outside\n")
    print(verdict_table(results))
    print(f"\n{len(runs)} training runs and {len(measured)} propagation measurements in {elapsed:.0f} s")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    study = {"machine": info, "device": args.device, "settings": settings, "seconds": elapsed, "runs": runs,
             "verdicts": results, "propagation": measured}
    (out / "study.json").write_text(json.dumps(study, indent=1))
    training_chart(runs, schemes, out / "training.png",
                   f"{header}\n{setup}; lines: mean across seeds, bands: lowest to highest seed")
    propagation_chart(measured, schemes, out / "propagation.png", header)
    print(f"wrote {out / 'study.json'}, {out / 'training.png'} and {out / 'propagation.png'}")
    return 0
