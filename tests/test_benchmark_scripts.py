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
    for row in ("uniform_ of fill_", "xavier_normal_ of fill_", "trunc_normal_(std=1) of fill_",
                "kaiming_uniform_ per call", "uniform_ bfloat16 elements/s", "normal_ float16 elements/s",
                "trunc_normal_ bfloat16 elements/s", "trunc_normal_: 1 thread"):
        assert row in out, out
    # 8 fills, the per-call cost, 3 initializers x 2 16-bit dtypes
    assert out.count("| met |") + out.count("| **not met** |") == 15, out


def test_low_precision_table():
    out = _run("low_precision.py", "--elements", "65536", "--repeat", "1", "--rounds", "1")
    assert all(f"| {name} |" in out for name in ("uniform_", "normal_", "trunc_normal_")), out


def test_gpt2_xl_table():
    out = _run("gpt2_xl.py", "--layers", "1", "--width", "64", "--repeat", "1")
    for step in ("stock construction", "materialize", "allocate + zero floor", "fastinit.reset_parameters (warm)"):
        assert f"| {step} |" in out, out


def test_sharded_materialize_table_for_both_splits():
    for split in ("fsdp2", "pipeline"):
        out = _run("sharded_materialize.py", "--split", split, "--layers", "2", "--width", "64", "--repeat", "1",
                   "--world-sizes", "1", "2")
        rows = [line.split() for line in out.splitlines()[2:]]
        assert [row[0] for row in rows] == ["1", "2"] and rows[0][-1] == "1.00x", out


def test_real_models_table():
    import pytest

    pytest.importorskip("transformers")
    out = _run("real_models.py", "--small", "--only", "bert-base")
    assert "| bert-base | float32 |" in out and "refused" not in out, out


def test_report_names_cases_in_plain_lines_and_writes_its_files(tmp_path):
    import json

    import pytest

    pytest.importorskip("matplotlib")
    completed = subprocess.run([sys.executable, "-m", "fastinit.bench", "--quick", "--repeat", "2", "--only",
                                "xavier_uniform_", "orthogonal", "reset", "--out", str(tmp_path)],
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    assert "[1/3] xavier_uniform_ [medium]" in completed.stderr and "\r" not in completed.stderr
    assert "| reference ÷ fastinit time (best) | outlier rounds stock / fastinit / reference |" in completed.stdout
    orthogonal_row = next(line for line in completed.stdout.splitlines() if line.startswith("| orthogonal_"))
    assert "| none (a fill is no yardstick for O(n³) work) | – | – |" in orthogonal_row
    report = json.loads((tmp_path / "report.json").read_text())
    assert [r["reference_name"] for r in report["results"]] == ["fill_(1.0)", None, "fill_(1.0) per tensor"]
    assert report["results"][1]["reference"] is None and report["results"][1]["of_reference"] is None
    assert all(r["fastinit"]["min"] <= r["fastinit"]["median"] for r in report["results"])
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_report_help_shows_only_defaults_that_exist():
    completed = subprocess.run([sys.executable, "-m", "fastinit.bench", "--help"], capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0
    text = " ".join(completed.stdout.split())
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "--device {cpu,cuda} where the tensors live" in text and "(default: cpu)" in text
    assert "--dtype {float32,bfloat16,float16,float64} dtype of" in text


def test_checkpoint_writing_table():
    import pytest

    pytest.importorskip("transformers")
    pytest.importorskip("safetensors")
    out = _run("checkpoint_writing.py", "--layers", "1", "--hidden", "64", "--intermediate", "128", "--heads", "4",
               "--vocab", "500", "--max-shard-size", "50KB", "--no-stock")
    for run in ("zeros floor, 1 process(es)", "fastinit.checkpoint, 1 process(es)",
                "zeros floor, 2 process(es)", "fastinit.checkpoint, 2 process(es)"):
        assert f"| {run} |" in out, out
