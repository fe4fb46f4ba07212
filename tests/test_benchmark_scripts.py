"""The scripts in benchmarks/ that closing notes quote still run and print
their tables (tiny sizes; the figures themselves are not tested)."""

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _run(script: str, *args: str) -> str:
    completed = subprocess.run([sys.executable, str(BENCHMARKS / script), *args],
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_cpu_targets_prints_every_target():
    out = _run("cpu_targets.py", "--size", "medium", "--repeat", "1", "--rounds", "1")
    for row in ("uniform_ of fill_", "xavier_normal_ vs stock", "trunc_normal_ vs stock",
                "kaiming_uniform_ per call", "uniform_ bfloat16 elements/s", "normal_ bfloat16 elements/s",
                "trunc_normal_: 1 thread"):
        assert row in out, out
    assert out.count("| met |") + out.count("| **not met** |") == 17, out


def test_low_precision_table():
    out = _run("low_precision.py", "--elements", "65536", "--repeat", "1", "--rounds", "1")
    assert all(f"| {name} |" in out for name in ("uniform_", "normal_", "trunc_normal_")), out


def test_gpt2_xl_table():
    out = _run("gpt2_xl.py", "--layers", "1", "--width", "64", "--repeat", "1")
    for step in ("stock construction", "materialize", "allocate + zero floor", "fastinit.reset_parameters (warm)"):
        assert f"| {step} |" in out, out
