"""Is fastinit statistically equivalent to stock? Two one-sided tests on
paired seeds.

Note [equivalence test]: fastinit reproduces torch's distributions, not its
random stream, so a run differs from stock's seed by seed and no single
pair can be compared. What can be tested is whether the *mean* difference
over seeds is within a margin that matters, which is an equivalence
question, not a difference question (a t-test that fails to find a
difference proves nothing: few seeds fail to find anything). The test is
Schuirmann's two one-sided tests (TOST) at α = 0.05, in its confidence
interval form: the difference is equivalent when the 90% t-interval of the
mean paired difference lies inside (−margin, +margin). Runs are paired by
seed (Note [paired seeds] in training.py). Three verdicts:

- "equivalent": the 90% interval lies inside the margin;
- "not equivalent": it lies entirely outside it (the difference is
  significantly larger than the margin);
- "undecided (more seeds)": it straddles a margin's edge.

The margins: accuracy on the held-out set, ±2 percentage points (7 of its
360 images); the final training loss on the log scale, a ratio within
0.80–1.25 (the geometric-mean-ratio margin of bioequivalence, the
textbook use of TOST), since losses of different runs differ by factors.
A run whose loss is not finite has diverged; when either side has one,
the losses are compared by how many runs diverged instead (both all: 
equivalent; Fisher's exact test at 0.05: not equivalent; else undecided).
"""

import math

import numpy as np

EQUIVALENT, NOT_EQUIVALENT, UNDECIDED = "equivalent", "not equivalent", "undecided (more seeds)"
ALPHA = 0.05
ACCURACY_MARGIN = 0.02
LOSS_RATIO_MARGIN = 1.25


def interval(differences, alpha: float = ALPHA) -> tuple[float, float, float]:
    """The mean of the paired differences and its two-sided (1 − 2α)
    t-interval: (mean, low, high)."""
    from scipy import stats

    values = np.asarray(differences, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, -math.inf, math.inf
    half = float(stats.t.ppf(1 - alpha, len(values) - 1)) * float(values.std(ddof=1)) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def verdict_of_interval(low: float, high: float, margin: float) -> str:
    if -margin < low and high < margin:
        return EQUIVALENT
    if high <= -margin or low >= margin:
        return NOT_EQUIVALENT
    return UNDECIDED


def compare_accuracy(stock, fast) -> dict:
    """TOST on the paired accuracy differences, fastinit − stock."""
    mean, low, high = interval(np.subtract(fast, stock))
    return {"difference": mean, "interval": [low, high], "margin": ACCURACY_MARGIN,
            "verdict": verdict_of_interval(low, high, ACCURACY_MARGIN)}


def compare_loss(stock, fast) -> dict:
    """TOST on the paired log loss ratios, log(fastinit / stock), reported
    as ratios; by divergence counts where a loss is not finite."""
    stock, fast = np.asarray(stock, dtype=np.float64), np.asarray(fast, dtype=np.float64)
    diverged_stock, diverged_fast = int((~np.isfinite(stock)).sum()), int((~np.isfinite(fast)).sum())
    if diverged_stock or diverged_fast:
        from scipy import stats

        runs = len(stock)
        if diverged_stock == diverged_fast == runs:
            verdict = EQUIVALENT
        else:
            table = [[diverged_stock, runs - diverged_stock], [diverged_fast, runs - diverged_fast]]
            verdict = NOT_EQUIVALENT if stats.fisher_exact(table).pvalue < ALPHA else UNDECIDED
        return {"diverged": [diverged_stock, diverged_fast], "verdict": verdict}
    mean, low, high = interval(np.log(fast) - np.log(stock))
    margin = math.log(LOSS_RATIO_MARGIN)
    return {"ratio": math.exp(mean), "interval": [math.exp(low), math.exp(high)],
            "margin": [1 / LOSS_RATIO_MARGIN, LOSS_RATIO_MARGIN], "verdict": verdict_of_interval(low, high, margin)}


def verdict(stock_runs: list[dict], fast_runs: list[dict]) -> dict:
    """The verdict on a scheme from its runs (same seeds, same order):
    equivalent when the final loss and the final accuracy both are, not
    equivalent when either is not, undecided otherwise."""
    loss = compare_loss([r["loss"][-1] for r in stock_runs], [r["loss"][-1] for r in fast_runs])
    accuracy = compare_accuracy([r["accuracy"][-1] for r in stock_runs], [r["accuracy"][-1] for r in fast_runs])
    verdicts = {loss["verdict"], accuracy["verdict"]}
    overall = NOT_EQUIVALENT if NOT_EQUIVALENT in verdicts else EQUIVALENT if verdicts == {EQUIVALENT} else UNDECIDED
    return {"loss": loss, "accuracy": accuracy, "verdict": overall}
