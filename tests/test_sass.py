"""The compiled CUDA kernels, read back without a GPU (tools/sass_report.py).
The instruction classifier is tested everywhere; the kernels themselves
when a CUDA object of this build (build/**/fill_kernels.o, as `python
setup.py build_ext --inplace` leaves it) and cuobjdump exist."""

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import sass_report  # noqa: E402

CUOBJDUMP, OBJECT = sass_report.find_cuobjdump(), sass_report.find_object()
needs_object = pytest.mark.skipif(CUOBJDUMP is None or OBJECT is None,
                                  reason="needs cuobjdump and a CUDA object from an in-place build")


@pytest.mark.parametrize("opcode, kind", [
    ("STG.E.128", "store 16 B"), ("STG.E.EF.128", "store 16 B"), ("ST.E.128", "store 16 B"),
    ("STG.E.64", "store 8 B"), ("ST.E.64", "store 8 B"), ("STG.E", "store 4 B"), ("ST.E", "store 4 B"),
    ("ST.E.STRONG.GPU", "store 4 B"), ("ST.E.U16", "store 2 B"), ("STG.E.U8", None),
    ("LDL", "local load"), ("LDL.128", "local load"), ("STL.64", "local store"), ("CALL.REL.NOINC", "call"),
    ("LDG.E.64", None), ("FFMA", None),
])
def test_classify(opcode, kind):
    assert sass_report.classify(opcode) == kind


@pytest.fixture(scope="module")
def counts():
    sass = subprocess.run([CUOBJDUMP, "--dump-sass", str(OBJECT)], capture_output=True, text=True, check=True).stdout
    return sass_report.parse(sass)


@needs_object
def test_every_fill_kernel_is_compiled_for_every_architecture(counts):
    assert set(counts) >= {"sm_80", "sm_90"}
    for arch, kernels in counts.items():
        # 16 table kernels (4 distributions x 4 dtypes) and 12 argument ones
        # (all but the mixtures, Note [kernel-argument launches])
        assert len(kernels) == 28, (arch, sorted(kernels))
        for kernel, counter in kernels.items():
            stores = sum(counter[c] for c in ("store 16 B", "store 8 B", "store 4 B", "store 2 B"))
            assert stores > 0, f"{arch} {kernel} writes nothing to global memory"


# kernel -> the vector store its contiguous path must use, in both forms
_VECTOR_STORES = {
    "UniformF32 -> float32": "store 16 B", "NormalF32 -> float32": "store 16 B",
    "TruncNormalF32 -> float32": "store 16 B", "UniformF32 -> bfloat16": "store 8 B",
    "UniformF32 -> float16": "store 8 B", "NormalF32 -> bfloat16": "store 8 B", "NormalF32 -> float16": "store 8 B",
    "TruncNormalF32 -> bfloat16": "store 8 B", "TruncNormalF32 -> float16": "store 8 B",
    "UniformF64 -> float64": "store 16 B", "NormalF64 -> float64": "store 16 B",
}
VECTOR_STORES = {**_VECTOR_STORES, **{f"{kernel} (argument)": store for kernel, store in _VECTOR_STORES.items()}}


@needs_object
@pytest.mark.parametrize("kernel", sorted(VECTOR_STORES))
def test_fills_store_vectors(counts, kernel):
    for arch, kernels in counts.items():
        counter = kernels[kernel]
        assert counter[VECTOR_STORES[kernel]] > 0, f"{arch} {kernel}: no {VECTOR_STORES[kernel]} store ({counter})"


# float64 normals call libdevice's double sin/cos, whose reduction of huge
# arguments (Payne-Hanek) keeps a small array in local memory: the kernels
# that call them may use as much of it as the smallest of them, the float64
# normal's argument kernel, and every other kernel none (no register
# spills, no arrays indexed at run time).
LIBDEVICE_LOCALS = {"NormalF64 -> float64", "NormalF64 -> float64 (argument)",
                    "TruncNormalF64 -> float64", "TruncNormalF64 -> float64 (argument)"}
LIBDEVICE_REFERENCE = "NormalF64 -> float64 (argument)"


@needs_object
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_fill_kernels_use_no_local_memory(counts, arch):
    kernels = counts[arch]
    reference = kernels[LIBDEVICE_REFERENCE]
    assert 0 < reference["local load"] <= 8, reference  # the reduction's array, not spills
    for kernel, counter in kernels.items():
        allowed = reference if kernel in LIBDEVICE_LOCALS else {"local load": 0, "local store": 0}
        for kind in ("local load", "local store"):
            assert counter[kind] <= allowed[kind], f"{arch} {kernel}: {counter[kind]} {kind}s ({counter})"
