"""The compiled CUDA kernels, read back without a GPU (tools/sass_report.py):
skips unless a CUDA object of this build (build/**/fill_kernels.o, as
`python setup.py build_ext --inplace` leaves it) and cuobjdump exist."""

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import sass_report  # noqa: E402

CUOBJDUMP, OBJECT = sass_report.find_cuobjdump(), sass_report.find_object()
pytestmark = pytest.mark.skipif(CUOBJDUMP is None or OBJECT is None,
                                reason="needs cuobjdump and a CUDA object from an in-place build")


@pytest.fixture(scope="module")
def counts():
    sass = subprocess.run([CUOBJDUMP, "--dump-sass", str(OBJECT)], capture_output=True, text=True, check=True).stdout
    return sass_report.parse(sass)


def test_every_fill_kernel_is_compiled_for_every_architecture(counts):
    assert set(counts) >= {"sm_80", "sm_90"}
    for arch, kernels in counts.items():
        assert len(kernels) == 16, (arch, sorted(kernels))
        for kernel, counter in kernels.items():
            stores = sum(counter[c] for c in ("store 16 B", "store 8 B", "store 4 B", "store 2 B"))
            assert stores > 0, f"{arch} {kernel} writes nothing to global memory"


@pytest.mark.xfail(strict=True, reason="the float32 paths still store 4 bytes at a time and spill to local "
                                       "memory (the CUDA-kernels issue); passing means the markers can go")
def test_float32_fills_store_16_bytes_without_local_memory(counts):
    for kernels in counts.values():
        for kernel in ("UniformF32 -> float32", "NormalF32 -> float32", "TruncNormalF32 -> float32"):
            counter = kernels[kernel]
            assert counter["store 16 B"] > 0 and counter["local load"] == 0 and counter["local store"] == 0, kernel
