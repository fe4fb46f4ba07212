"""The CMake build: C++ unit tests of the torch-free headers (CTest), and the
op library loaded with torch.ops.load_library in a fresh process."""

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# The cmake installed beside this interpreter (pip's, in a virtual
# environment, whether or not it is activated), else the one on PATH.
_BESIDE = Path(sys.executable).parent / "cmake"
CMAKE = str(_BESIDE) if _BESIDE.exists() else shutil.which("cmake")
# The ctest of the same CMake installation (bare `ctest` on PATH may be
# another version, e.g. the system's beside a virtual environment's cmake).
CTEST = str(Path(CMAKE).resolve().with_name("ctest")) if CMAKE else None
pytestmark = pytest.mark.skipif(CMAKE is None, reason="cmake is not installed")


def _run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, args))}\n{result.stdout}\n{result.stderr}"
    return result


SANITIZERS = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"


@pytest.mark.parametrize("sanitized", [False, True], ids=["plain", "asan+ubsan"])
def test_header_and_kernel_unit_tests(tmp_path, sanitized):
    """The torch-free headers and every instruction-set kernel table, also
    under AddressSanitizer and UndefinedBehaviorSanitizer (any report fails
    the run: -fno-sanitize-recover)."""
    build = tmp_path / "build"
    flags = ["-DCMAKE_CXX_FLAGS=-Wall -Werror"]
    if sanitized:
        flags = [f"-DCMAKE_CXX_FLAGS={SANITIZERS}", "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined",
                 "-DCMAKE_BUILD_TYPE=RelWithDebInfo"]
    _run([CMAKE, "-S", ROOT, "-B", build, "-DFASTINIT_BUILD_LIBRARY=OFF", *flags])
    _run([CMAKE, "--build", build, "--parallel", "2"])
    if sanitized:
        assert "libasan" in _run(["ldd", build / "test_kernels"]).stdout
    listed = _run([CTEST, "--test-dir", build, "--show-only=json-v1"], cwd=build).stdout
    assert listed.count('"name"') >= 2, "the header and kernel tests are registered"
    _run([CTEST, "--test-dir", build, "--output-on-failure"], cwd=build)  # judged by its exit status


def _torch_cmake_args():
    """Hints find_package(Torch) needs for a CUDA build of torch on a machine
    that may have no GPU (../shared/BUILD_NOTES.md)."""
    args = [f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}"]
    env = dict(os.environ)
    if torch.version.cuda is not None:
        nvcc = Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")) / "bin" / "nvcc"
        if not nvcc.exists():
            pytest.skip("torch has CUDA but no CUDA toolkit is installed for CMake")
        env.setdefault("CUDA_PATH", str(nvcc.parents[1]))
        env.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0")
        args.append(f"-DCMAKE_CUDA_COMPILER={nvcc}")
        for packages in site.getsitepackages():
            nvrtc = Path(packages) / "nvidia" / "cu13" / "lib" / "libnvrtc.so.13"
            if nvrtc.exists():
                args.append(f"-DCUDA_nvrtc_LIBRARY={nvrtc}")
    return args, env


def test_cmake_library_loads_with_load_library(tmp_path):
    build = tmp_path / "build"
    args, env = _torch_cmake_args()
    _run([CMAKE, "-S", ROOT, "-B", build, "-DBUILD_TESTING=OFF", *args], env=env)
    _run([CMAKE, "--build", build, "--parallel", "2"], env=env)
    library = build / "libfastinit.so"
    # A fresh process: loading this library beside fastinit._C (the same
    # TORCH_LIBRARY namespace) would abort.
    script = (
        "import torch\n"
        f"torch.ops.load_library({str(library)!r})\n"
        "t = torch.empty(1000)\n"
        "torch.ops.fastinit.uniform_([t], [7], [2.0], [3.0])\n"
        "assert 2.0 <= t.min() and t.max() < 3.0\n"
        "print(t[:4].tolist())\n"
    )
    from_library = _run([sys.executable, "-c", script], cwd=tmp_path).stdout
    expected = torch.empty(1000)
    torch.ops.fastinit.uniform_([expected], [7], [2.0], [3.0])
    assert from_library.strip() == str(expected[:4].tolist())
