"""Which CUDA toolkit builds fastinit's CUDA kernels, or why none does.

setup.py asks `find()` before torch's cpp_extension is imported (it reads
CUDA_HOME once, at import). torch's CUDA headers, and the nvidia-* wheels'
headers that come with torch, compile only with the nvcc of the same CUDA
release: a CUDA 13.2 torch with nvcc 13.0 fails deep in the headers ("CUDA
compiler and CUDA toolkit headers are incompatible"). So the chooser looks
at every toolkit it can find and takes the first whose nvcc matches torch's
CUDA in major and minor version:

  1. CUDA_HOME, when set;
  2. the nvcc that pip installs beside torch (`cuda-toolkit[nvcc]`, i.e.
     the nvidia-cuda-nvcc wheel: site-packages/nvidia/cu<major>);
  3. /usr/local/cuda;
  4. the toolkit of the nvcc on PATH.

Where toolkits exist but none matches, the build stops with one sentence
naming both versions and the two ways on (a matching nvcc, or
FASTINIT_CUDA=0). It does not fall back to a CPU-only build by itself: a
machine with nvcc is one meant to build the CUDA kernels, and a silent
fallback would surface only later, on a GPU, as the dispatcher's "could not
run with arguments from the CUDA backend". Where there is no toolkit at all
(or torch has no CUDA), the CPU kernels alone are built, unless
FASTINIT_CUDA=1 asks for CUDA. This module imports neither torch nor
setuptools, so its decisions are tested on their own
(tests/test_build_config.py).
"""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path


class BuildError(Exception):
    """A build the settings ask for cannot be made; the message says why and
    what to do."""


@dataclass(frozen=True)
class Toolkit:
    home: Path
    version: tuple[int, int] | None  # nvcc's release; None when nvcc did not answer

    def describe(self) -> str:
        release = "?" if self.version is None else "%d.%d" % self.version
        return f"nvcc {release} ({self.home})"


@dataclass(frozen=True)
class Choice:
    toolkit: Toolkit | None  # None: build the CPU kernels only
    reason: str  # why there are no CUDA kernels; "" when there are


def release(version: str) -> tuple[int, int]:
    """(major, minor) of a CUDA version string such as "13.2" or "13.0.2"."""
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def nvcc_release(home: Path) -> tuple[int, int] | None:
    """The CUDA release `home/bin/nvcc --version` names, or None."""
    try:
        output = subprocess.run([str(home / "bin" / "nvcc"), "--version"], capture_output=True, text=True,
                                timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"release (\d+)\.(\d+)", output)
    return (int(found[1]), int(found[2])) if found else None


def candidate_homes(environ: dict, site_dirs: list[str], torch_cuda: str | None) -> list[Path]:
    """Toolkit folders (a bin/nvcc beside include/cuda_runtime.h: a
    wrapper script on PATH is no toolkit) in the order of the module
    docstring, each once."""
    homes = []
    if environ.get("CUDA_HOME"):
        homes.append(Path(environ["CUDA_HOME"]))
    if torch_cuda is not None:
        homes += [Path(site) / "nvidia" / f"cu{release(torch_cuda)[0]}" for site in site_dirs]
    homes.append(Path("/usr/local/cuda"))
    on_path = shutil.which("nvcc", path=environ.get("PATH"))
    if on_path:
        homes.append(Path(on_path).resolve().parent.parent)
    unique = []
    for home in homes:
        toolkit = (home / "bin" / "nvcc").is_file() and (home / "include" / "cuda_runtime.h").is_file()
        if toolkit and home not in unique:
            unique.append(home)
    return unique


def mismatch_sentence(torch_version: str, torch_cuda: str, toolkits: list[Toolkit], toolkit_wheel: str | None) -> str:
    major, minor = release(torch_cuda)
    install = (f'run pip install "cuda-toolkit[nvcc]=={toolkit_wheel}"' if toolkit_wheel
               else f"install a CUDA {major}.{minor} toolkit (its nvcc)")
    return (f"no nvcc matches torch {torch_version}'s CUDA {major}.{minor} "
            f"(found: {', '.join(t.describe() for t in toolkits)}); torch's CUDA headers compile only with the "
            f"nvcc of the same CUDA release: {install} and build again, "
            "or build the CPU kernels only with FASTINIT_CUDA=0")


def choose(setting: str, torch_version: str, torch_cuda: str | None, toolkits: list[Toolkit],
           toolkit_wheel: str | None = None) -> Choice:
    """The build to make. `setting` is FASTINIT_CUDA ("0", "1" or "" for
    automatic), `toolkits` the candidates in order of preference,
    `toolkit_wheel` the installed cuda-toolkit wheel's version (named in the
    advice). Raises BuildError where toolkits exist but none matches, and
    where FASTINIT_CUDA=1 cannot be honoured."""
    setting = setting.strip()
    if setting == "0":
        return Choice(None, "FASTINIT_CUDA=0")
    if torch_cuda is None:
        reason = f"torch {torch_version} has no CUDA"
    elif not toolkits:
        reason = ("no CUDA toolkit found (looked at CUDA_HOME, pip's nvidia-cuda-nvcc beside torch, "
                  "/usr/local/cuda and the nvcc on PATH)")
    else:
        wanted = release(torch_cuda)
        for toolkit in toolkits:
            if toolkit.version == wanted:
                return Choice(toolkit, "")
        raise BuildError(mismatch_sentence(torch_version, torch_cuda, toolkits, toolkit_wheel))
    if setting == "1":
        raise BuildError(f"FASTINIT_CUDA=1, but {reason}")
    return Choice(None, reason)


def find(setting: str, torch_version: str, torch_cuda: str | None, site_dirs: list[str],
         environ: dict | None = None) -> Choice:
    """choose() over the toolkits on this machine."""
    environ = os.environ if environ is None else environ
    toolkits = []
    if setting.strip() != "0" and torch_cuda is not None:
        toolkits = [Toolkit(home, nvcc_release(home)) for home in candidate_homes(environ, site_dirs, torch_cuda)]
    try:
        toolkit_wheel = version("cuda-toolkit")
    except PackageNotFoundError:
        toolkit_wheel = None
    return choose(setting, torch_version, torch_cuda, toolkits, toolkit_wheel)
