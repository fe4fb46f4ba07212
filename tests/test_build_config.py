"""setup.py's choice of CUDA toolkit (tools/cuda_toolkit.py): which nvcc
builds the CUDA kernels, and the sentence a user gets where none can."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import cuda_toolkit  # noqa: E402
from cuda_toolkit import BuildError, Toolkit, choose  # noqa: E402

SYSTEM = Toolkit(Path("/usr/local/cuda"), (13, 0))
WHEEL = Toolkit(Path("/venv/site-packages/nvidia/cu13"), (13, 2))


def test_the_first_toolkit_of_torchs_release_builds():
    assert choose("", "2.15.0+cu132", "13.2", [SYSTEM, WHEEL]) == cuda_toolkit.Choice(WHEEL, "")
    assert choose("", "2.11.0+cu130", "13.0", [SYSTEM, WHEEL]).toolkit == SYSTEM
    assert choose("1", "2.11.0+cu130", "13.0", [WHEEL, SYSTEM]).toolkit == SYSTEM


@pytest.mark.parametrize("setting", ["", "1"])
@pytest.mark.parametrize("torch_cuda, found", [("13.2", (13, 0)), ("13.0", (13, 2)), ("13.0", (12, 8)),
                                               ("12.8", (13, 0))])
def test_a_mismatch_stops_the_build_naming_both_releases_and_the_ways_on(setting, torch_cuda, found):
    toolkit = Toolkit(Path("/opt/cuda"), found)
    with pytest.raises(BuildError) as raised:
        choose(setting, f"2.15.0+cu{torch_cuda.replace('.', '')}", torch_cuda, [toolkit], toolkit_wheel="13.2.2")
    message = str(raised.value)
    assert f"CUDA {torch_cuda}" in message and "nvcc %d.%d (/opt/cuda)" % found in message
    assert 'pip install "cuda-toolkit[nvcc]==13.2.2"' in message and "FASTINIT_CUDA=0" in message


def test_without_the_cuda_toolkit_wheel_the_advice_names_the_release():
    with pytest.raises(BuildError, match=r"install a CUDA 13\.2 toolkit \(its nvcc\)"):
        choose("", "2.15.0", "13.2", [SYSTEM])


def test_an_nvcc_that_does_not_answer_is_no_match():
    with pytest.raises(BuildError, match=r"nvcc \? \(/broken\)"):
        choose("", "2.15.0", "13.2", [Toolkit(Path("/broken"), None)])


def test_cpu_only_builds_and_their_reasons():
    assert choose("0", "2.15.0", "13.2", [SYSTEM]) == cuda_toolkit.Choice(None, "FASTINIT_CUDA=0")
    assert choose("", "2.13.0+cpu", None, [SYSTEM]) == cuda_toolkit.Choice(None, "torch 2.13.0+cpu has no CUDA")
    assert "no CUDA toolkit found" in choose("", "2.15.0", "13.2", []).reason


@pytest.mark.parametrize("torch_cuda, toolkits", [(None, [SYSTEM]), ("13.0", [])])
def test_cuda_asked_for_but_impossible_is_an_error(torch_cuda, toolkits):
    with pytest.raises(BuildError, match="^FASTINIT_CUDA=1, but "):
        choose("1", "2.13.0", torch_cuda, toolkits)


def _fake_nvcc(home: Path, release: str) -> Path:
    nvcc = home / "bin" / "nvcc"
    nvcc.parent.mkdir(parents=True)
    nvcc.write_text(f"#!/bin/sh\necho 'Cuda compilation tools, release {release}, V{release}.1'\n")
    nvcc.chmod(0o755)
    (home / "include").mkdir()
    (home / "include" / "cuda_runtime.h").touch()
    return home


def test_toolkits_are_found_in_order_and_asked_their_release(tmp_path):
    chosen = _fake_nvcc(tmp_path / "chosen", "13.0")
    wheel = _fake_nvcc(tmp_path / "site" / "nvidia" / "cu13", "13.2")
    on_path = _fake_nvcc(tmp_path / "on-path", "12.8")
    wrapper = tmp_path / "wrapper" / "bin" / "nvcc"  # a script on PATH, no toolkit around it
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text("#!/bin/sh\nexec /usr/local/cuda/bin/nvcc \"$@\"\n")
    wrapper.chmod(0o755)
    environ = {"CUDA_HOME": str(chosen), "PATH": f"{wrapper.parent}:{on_path / 'bin'}"}
    homes = cuda_toolkit.candidate_homes(environ, [str(tmp_path / "site")], "13.2")
    assert homes[:2] == [chosen, wheel] and tmp_path / "wrapper" not in homes
    assert cuda_toolkit.candidate_homes({"PATH": str(on_path / "bin")}, [], None)[-1] == on_path
    assert cuda_toolkit.nvcc_release(wheel) == (13, 2) and cuda_toolkit.nvcc_release(tmp_path) is None
    assert cuda_toolkit.find("", "2.15.0", "13.2", [str(tmp_path / "site")], environ).toolkit.home == wheel
