"""The quality study's pieces (fastinit.study), small: the equivalence
verdicts, the signal-propagation measurement against rates that can be
computed exactly, and the command end to end."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import fastinit.init
from fastinit.study import equivalence, propagation, training

pytest.importorskip("scipy")


# The verdict logic on known intervals.

def test_interval_is_the_t_interval_of_the_mean_difference():
    from scipy import stats

    differences = [0.01, -0.02, 0.015, 0.0, 0.005]
    mean, low, high = equivalence.interval(differences)
    expected = stats.t.interval(0.90, len(differences) - 1, loc=np.mean(differences),
                                scale=stats.sem(differences))
    assert mean == pytest.approx(np.mean(differences))
    assert (low, high) == pytest.approx(expected)


@pytest.mark.parametrize("low, high, verdict", [
    (-0.01, 0.015, equivalence.EQUIVALENT),
    (0.021, 0.05, equivalence.NOT_EQUIVALENT),
    (-0.09, -0.02, equivalence.NOT_EQUIVALENT),
    (-0.01, 0.03, equivalence.UNDECIDED),
    (-0.03, 0.03, equivalence.UNDECIDED),
])
def test_verdict_of_an_interval_against_the_margin(low, high, verdict):
    assert equivalence.verdict_of_interval(low, high, 0.02) == verdict


def test_loss_is_compared_as_a_ratio():
    stock = [0.10, 0.20, 0.40, 0.15]
    assert equivalence.compare_loss(stock, [1.05 * s for s in stock[:2]] + [0.97 * s for s in stock[2:]])[
        "verdict"] == equivalence.EQUIVALENT
    assert equivalence.compare_loss(stock, [2.1 * s for s in stock[:2]] + [1.9 * s for s in stock[2:]])[
        "verdict"] == equivalence.NOT_EQUIVALENT


def test_diverged_runs_are_compared_by_count():
    nan = math.nan
    assert equivalence.compare_loss([nan] * 6, [nan] * 6)["verdict"] == equivalence.EQUIVALENT
    assert equivalence.compare_loss([nan] * 6, [0.1] * 6)["verdict"] == equivalence.NOT_EQUIVALENT
    split = equivalence.compare_loss([nan, 0.1, nan, 0.2], [0.1, nan, 0.3, 0.2])
    assert split == {"diverged": [2, 1], "verdict": equivalence.UNDECIDED}


def test_a_scheme_is_equivalent_only_when_loss_and_accuracy_are():
    def runs(losses, accuracies):
        return [{"loss": [loss], "accuracy": [accuracy]} for loss, accuracy in zip(losses, accuracies)]

    stock = runs([0.10, 0.12, 0.11, 0.09], [0.97, 0.96, 0.98, 0.97])
    same = runs([0.105, 0.118, 0.112, 0.091], [0.972, 0.958, 0.979, 0.969])
    worse = runs([0.105, 0.118, 0.112, 0.091], [0.90, 0.89, 0.91, 0.90])
    assert equivalence.verdict(stock, same)["verdict"] == equivalence.EQUIVALENT
    assert equivalence.verdict(stock, worse)["verdict"] == equivalence.NOT_EQUIVALENT


# The verdict on real training runs: it finds fastinit equivalent, and it
# can fail.

@pytest.fixture(scope="module")
def orthogonal_runs():
    """6 seeds × 2 epochs of orthogonal_ (the scheme whose runs vary least
    from seed to seed) with stock torch.nn.init."""
    pytest.importorskip("sklearn")
    data = training.load_digits()

    def runs(implementation, initializer=None):
        return [training.train(training.build(training.DigitsCNN, "orthogonal_", implementation, seed,
                                              initializer=initializer), data, seed, epochs=2)
                for seed in range(6)]

    return runs("stock"), runs


def test_fastinit_trains_like_stock(orthogonal_runs):
    stock, runs = orthogonal_runs
    result = equivalence.verdict(stock, runs("fastinit"))
    assert result["verdict"] == equivalence.EQUIVALENT, result


def test_an_initializer_three_times_too_wide_is_not_equivalent(orthogonal_runs):
    stock, runs = orthogonal_runs

    def three_times_too_wide(model):
        with torch.no_grad():
            for layer in (model.conv1, model.conv2, model.fc1, model.fc2):
                fastinit.init.orthogonal_(layer.weight, gain=3.0)
                fastinit.init.zeros_(layer.bias)

    result = equivalence.verdict(stock, runs("fastinit", three_times_too_wide))
    assert result["verdict"] == equivalence.NOT_EQUIVALENT, result


# Signal propagation against Note [variance per layer].

def _gaussian(std):
    def initialize(model):
        with torch.no_grad():
            for layer in model.modules():
                if isinstance(layer, nn.Linear):
                    fastinit.init.normal_(layer.weight, 0.0, std)
                    fastinit.init.zeros_(layer.bias)

    return initialize


@pytest.mark.parametrize("gain", [0.5, 2.0])
def test_linear_network_changes_variance_by_fan_in_times_weight_variance(gain):
    """Var(output) / Var(input) = fan_in · Var(w) forward and fan_out ·
    Var(w) backward (square layers: both are `gain`), block by block."""
    network = propagation.Network("mlp", "linear", False, depth=8, width=1024, batch=512)
    measured = propagation.measure(network, "default", "fastinit", seed=0,
                                   initializer=_gaussian(math.sqrt(gain / network.width)))
    forward = np.square(measured["forward"])
    backward = np.square(measured["backward"])
    assert forward[1:] / forward[:-1] == pytest.approx(np.full(7, gain), rel=0.1)
    assert backward[:-1] / backward[1:] == pytest.approx(np.full(7, gain), rel=0.1)
    # The first block's input is standard normal, the last gradient too.
    assert forward[0] == pytest.approx(gain, rel=0.1)
    assert backward[-1] == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize("implementation", ["stock", "fastinit"])
def test_kaiming_keeps_a_relu_network_signal_and_xavier_lets_it_vanish(implementation):
    network = propagation.Network("mlp", "relu", False)
    kaiming = propagation.measure(network, "kaiming_normal_", implementation, seed=0)["forward"]
    xavier = propagation.measure(network, "xavier_normal_", implementation, seed=0)["forward"]
    assert max(kaiming) / min(kaiming) < 2
    # Xavier's 1/fan_in for square layers halves the second moment per ReLU
    # block: the spread shrinks by √2 per block, 2^-14.5 over 29 steps.
    assert xavier[-1] / xavier[0] == pytest.approx(2 ** -14.5, rel=0.5)


def test_batchnorm_makes_the_forward_signal_independent_of_the_scale():
    network = propagation.Network("mlp", "tanh", True, depth=10)
    small = propagation.measure(network, "default", "fastinit", seed=0, initializer=_gaussian(0.02))["forward"]
    large = propagation.measure(network, "default", "fastinit", seed=0, initializer=_gaussian(1.0))["forward"]
    assert small == pytest.approx(large, rel=1e-2)


# The command end to end, tiny.

def test_study_command_writes_tables_json_and_charts(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from fastinit.study.report import main

    assert main(["--schemes", "zeros_", "xavier_uniform_", "--seeds", "2", "--epochs", "1", "--out",
                 str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "| zeros_ | 2.303 ± " in printed
    assert "| zeros_ | 1.000 [1.000, 1.000] (equivalent) | +0.0000 [+0.0000, +0.0000] (equivalent) | " \
           "**equivalent** |" in printed
    study = json.loads((tmp_path / "study.json").read_text())
    assert sorted((r["scheme"], r["implementation"], r["seed"]) for r in study["runs"]) == sorted(
        (s, i, seed) for s in ("zeros_", "xavier_uniform_") for i in ("stock", "fastinit") for seed in (0, 1))
    assert set(study["verdicts"]) == {"zeros_", "xavier_uniform_"}
    assert len(study["propagation"]) == len(propagation.NETWORKS) * 2 * 2
    assert all(len(m["forward"]) == len(m["backward"]) > 1 for m in study["propagation"])
    for chart in ("training.png", "propagation.png"):
        assert (tmp_path / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_study_command_refuses_one_seed(capsys):
    from fastinit.study.report import main

    with pytest.raises(SystemExit):
        main(["--seeds", "1"])
    assert "--seeds 1: the equivalence test needs at least 2 seeds" in capsys.readouterr().err
