"""tools/gpu_check.sh on this machine: its CPU-side parts (arguments, the
plan with its build step, the summary) and, without a GPU, the build in
place, one line and exit status 0 (CI's oldest-torch job runs the same from
a clean tree: .ci/run)."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import gpu_check  # noqa: E402

from fastinit import _C  # noqa: E402

# An in-place build (`python setup.py build_ext --inplace`), whose objects
# the build step only brings up to date instead of compiling afresh.
IN_PLACE_BUILD = any((ROOT / "build").glob("temp.*/csrc/cuda/*.o")) and any((ROOT / "fastinit").glob("_C*.so"))


def _script(*args):
    return subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh"), *args], capture_output=True, text=True,
                          env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"}, timeout=300)


def test_needs_an_output_folder():
    result = _script()
    assert result.returncode == 2 and "out" in result.stderr


def test_plan_builds_in_place_first_and_covers_every_check(tmp_path):
    result = _script(str(tmp_path), "--plan")
    assert result.returncode == 0, result.stderr
    names = [line.split(" (limit")[0] for line in result.stdout.splitlines()]
    assert names == ["build in place", "CUDA tests", "torch.compile on CUDA", "CPU == CUDA bits",
                     "compute-sanitizer memcheck", "report, GPU rows"]
    steps = gpu_check.plan(tmp_path, cores=16)
    assert steps[0].command[1:] == ["setup.py", "build_ext", "--inplace"] and steps[0].env["FASTINIT_CUDA"] == "1"
    assert sum(step.timeout_s for step in steps) <= 8 * 60, "the limits fit the 8 minutes"
    assert gpu_check.plan(tmp_path, cores=2)[0].timeout_s == 8 * steps[0].timeout_s
    assert "--device" in steps[-1].command and "cuda" in steps[-1].command


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.skipif(not (_C.BUILT_WITH_CUDA and IN_PLACE_BUILD), reason="no in-place CUDA build to bring up to date")
def test_without_a_gpu_builds_then_says_so_in_one_line(tmp_path):
    out = tmp_path / "out"
    result = _script(str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("build in place: passed in ")
    assert lines[1:] == ["gpu_check: no GPU visible to torch here; built in place, nothing else checked",
                         f"wrote {out / 'summary.md'}"]
    assert "| build in place | passed |" in (out / "summary.md").read_text()


def test_summary_has_a_row_per_step(tmp_path):
    steps = gpu_check.plan(tmp_path)
    outcomes = [gpu_check.Outcome(steps[0], 0, 71.2, "built"), gpu_check.Outcome(steps[1], 1, 30.0, "2 failed | x"),
                gpu_check.Outcome(steps[2], None, 300.0, "")]
    text = gpu_check.summary("NVIDIA H200", outcomes)
    assert text.startswith("# fastinit GPU check on NVIDIA H200")
    assert "| build in place | passed | 71 | built |" in text
    assert "| CUDA tests | failed (1) | 30 | 2 failed / x |" in text
    assert "| torch.compile on CUDA | timed out | 300 |  |" in text
    assert text.rstrip().endswith("1 of 3 steps passed")


def test_a_step_logs_its_output_and_last_line(tmp_path):
    step = gpu_check.Step("echo", [sys.executable, "-c", "print('a'); print('last one')"], 60)
    outcome = gpu_check.run_step(step, tmp_path / "echo.log")
    assert outcome.returncode == 0 and outcome.last_line == "last one"
    assert (tmp_path / "echo.log").read_text() == "a\nlast one\n"
    slow = gpu_check.run_step(gpu_check.Step("slow", [sys.executable, "-c", "import time; time.sleep(5)"], 1),
                              tmp_path / "slow.log")
    assert slow.returncode is None
