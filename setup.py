"""Builds fastinit's C++/CUDA extension with torch.utils.cpp_extension.

Environment:
  FASTINIT_CUDA=0/1       disable/require the CUDA kernels (default: built
                          when torch has CUDA and a CUDA toolkit is found)
  TORCH_CUDA_ARCH_LIST    GPU architectures (default here: "8.0;9.0")
  CUDA_HOME               the CUDA toolkit (default: /usr/local/cuda if present)
Install with `pip install --no-build-isolation .` after torch.
"""

import os
import sys
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
if "CUDA_HOME" not in os.environ and Path("/usr/local/cuda/bin/nvcc").exists():
    # torch would otherwise derive the toolkit from the nvcc on PATH, which
    # may be a wrapper outside the toolkit.
    os.environ["CUDA_HOME"] = "/usr/local/cuda"

import torch  # noqa: E402
from torch.utils import cpp_extension  # noqa: E402


def read_sources():
    """The source list shared with CMakeLists.txt, as {kind: [paths]}."""
    sources = {"common": [], "cuda": [], "python": []}
    for line in (ROOT / "csrc" / "sources.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            kind, path = line.split()
            sources[kind].append(path)
    return sources


def want_cuda():
    setting = os.environ.get("FASTINIT_CUDA", "").strip()
    available = torch.version.cuda is not None and cpp_extension.CUDA_HOME is not None
    if setting == "0":
        return False
    if setting == "1":
        if not available:
            sys.exit(
                "FASTINIT_CUDA=1 but torch has no CUDA "
                f"(torch.version.cuda={torch.version.cuda}) or no CUDA toolkit "
                f"was found (CUDA_HOME={cpp_extension.CUDA_HOME})"
            )
        return True
    return available


def cuda_wheel_include_dirs():
    """CUDA library headers that torch's headers include but that only the
    nvidia-* wheels ship (cuBLAS, cuSPARSE, cuSOLVER, cuRAND)."""
    dirs = []
    for entry in sys.path:
        for sub in ("nvidia/cu13/include", "nvidia/cuda_runtime/include"):
            candidate = Path(entry) / sub
            if candidate.is_dir():
                dirs.append(str(candidate))
    return dirs


def cpu_kernels_here() -> str:
    """The CPU kernel table this machine will pick at run time (as
    csrc/cpu/fill_kernels.cpp's select_kernels, before ATEN_CPU_CAPABILITY)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split("flags", 2)[1].split("\n", 1)[0].split())
    except (OSError, IndexError):
        return "chosen at run time"
    avx2 = {"avx2", "fma", "f16c", "bmi2"} <= flags
    if avx2 and {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        return "AVX-512 on this CPU"
    return "AVX2 on this CPU" if avx2 else "the portable kernels on this CPU"


_BUILDING = {"build_ext", "build", "bdist_wheel", "editable_wheel", "develop", "install"}


def announce(message: str) -> None:
    """One line for the person running the install, on the run that
    compiles (pip also runs this file for metadata): pip hides a build's
    own output, so it goes to the terminal when there is one."""
    if not _BUILDING & set(sys.argv[1:]):
        return
    try:
        with open("/dev/tty", "w") as tty:
            tty.write(message + "\n")
    except OSError:
        print(message, file=sys.stderr)


def extension():
    sources = read_sources()
    cuda = want_cuda()
    cpu_part = f"CPU kernels for baseline, AVX2 and AVX-512 ({cpu_kernels_here()})"
    if cuda:
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0")
        announce(f"fastinit: compiling {cpu_part} and CUDA kernels for TORCH_CUDA_ARCH_LIST="
                 f"{os.environ['TORCH_CUDA_ARCH_LIST']} (CUDA {torch.version.cuda}, {cpp_extension.CUDA_HOME}); "
                 "about 75 s on 2 cores")
    else:
        reason = ("FASTINIT_CUDA=0" if os.environ.get("FASTINIT_CUDA", "").strip() == "0"
                  else "torch has no CUDA" if torch.version.cuda is None else "no CUDA toolkit found")
        announce(f"fastinit: compiling {cpu_part}; no CUDA kernels ({reason}); about 25 s on 2 cores")
    # -fopenmp: at::parallel_for is an inline template that runs serially
    # unless the extension itself is compiled with OpenMP (torch's ATen
    # uses the OpenMP backend); libgomp resolves to the copy torch loaded.
    # -ffp-contract=off: Note [explicit rounding] in csrc/include/fastinit/math.h.
    cxx_flags = ["-O3", "-g0", "-fopenmp", "-ffp-contract=off"]
    link_flags = ["-fopenmp"]
    if os.environ.get("FASTINIT_SANITIZE") == "1":  # tools/sanitize.sh
        sanitizers = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
        cxx_flags = ["-O1", "-g", "-fno-omit-frame-pointer", "-fopenmp", "-ffp-contract=off", *sanitizers]
        link_flags = ["-fopenmp", *sanitizers]
    include_dirs = [str(ROOT / "csrc" / "include")]
    if not cuda:
        return cpp_extension.CppExtension(
            "fastinit._C",
            sources=sources["common"] + sources["python"],
            include_dirs=include_dirs,
            extra_compile_args={"cxx": cxx_flags},
            extra_link_args=link_flags,
        )
    return cpp_extension.CUDAExtension(
        "fastinit._C",
        sources=sources["common"] + sources["cuda"] + sources["python"],
        include_dirs=include_dirs + cuda_wheel_include_dirs(),
        define_macros=[("FASTINIT_WITH_CUDA", "1")],
        extra_compile_args={
            "cxx": cxx_flags,
            # --fmad=false: no contraction of a * b + c in device code either
            # (Note [explicit rounding]); torch's own headers trip GCC's
            # interference-size warning.
            "nvcc": ["-O3", "--expt-relaxed-constexpr", "--fmad=false", "-Xcompiler=-Wno-interference-size"],
        },
        extra_link_args=link_flags,
    )


setup(
    ext_modules=[extension()],
    cmdclass={"build_ext": cpp_extension.BuildExtension},
)
