"""Builds fastinit's C++/CUDA extension with torch.utils.cpp_extension.

Environment:
  FASTINIT_CUDA=0/1       disable/require the CUDA kernels (default: built
                          when torch has CUDA and a CUDA toolkit is found;
                          a toolkit whose nvcc does not match torch's CUDA
                          release stops the build with a sentence saying
                          what to do: tools/cuda_toolkit.py)
  TORCH_CUDA_ARCH_LIST    GPU architectures (default here: "8.0;9.0")
  CUDA_HOME               the CUDA toolkit to try first
  MAX_JOBS                parallel compile jobs (torch's default: all cores)
Install with `pip install --no-build-isolation .` after torch.
"""

import os
import sys
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
# The language every source is compiled as, host and device, whatever the
# torch: torch's cpp_extension defaults to C++17 up to 2.11 and to C++20
# later, and CMakeLists.txt names C++20 too.
CXX_STANDARD = "-std=c++20"

sys.path.insert(0, str(ROOT / "tools"))
import cuda_toolkit  # noqa: E402
import torch  # noqa: E402

try:
    CUDA = cuda_toolkit.find(os.environ.get("FASTINIT_CUDA", ""), torch.__version__, torch.version.cuda,
                             [str(Path(torch.__file__).resolve().parents[1])])
except cuda_toolkit.BuildError as error:
    sys.exit(f"fastinit: {error}")
if CUDA.toolkit is not None:
    # torch's cpp_extension reads CUDA_HOME once, when it is imported.
    os.environ["CUDA_HOME"] = str(CUDA.toolkit.home)

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


def cudart_link_dirs(home: Path) -> list[str]:
    """torch links its extensions with -lcudart; the toolkit that pip's
    nvidia-cuda-nvcc wheel makes ships only the versioned libcudart.so.N,
    so the build links through an unversioned name under build/ (the
    loaded library is torch's own libcudart.so.N either way)."""
    if any((home / lib / "libcudart.so").exists() for lib in ("lib64", "lib")):
        return []
    versioned = sorted((home / "lib").glob("libcudart.so.[0-9]*"))
    if not versioned:
        return []
    folder = ROOT / "build" / "cudart"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "libcudart.so"
    link.unlink(missing_ok=True)
    link.symlink_to(versioned[0])
    return [str(folder)]


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


BUILD_PROGRESS = "pip install -v shows each file as it compiles; MAX_JOBS=N sets the parallel jobs"
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
    cuda = CUDA.toolkit is not None
    cpu_part = f"CPU kernels for baseline, AVX2 and AVX-512 ({cpu_kernels_here()})"
    if cuda:
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0")
        announce(f"fastinit: compiling {cpu_part} and CUDA kernels for TORCH_CUDA_ARCH_LIST="
                 f"{os.environ['TORCH_CUDA_ARCH_LIST']} (CUDA {torch.version.cuda}, {CUDA.toolkit.describe()}); "
                 f"about 5 min on 2 cores, 1-1.5 min on 16 ({BUILD_PROGRESS})")
    else:
        announce(f"fastinit: compiling {cpu_part}; no CUDA kernels ({CUDA.reason}); "
                 f"about 3 min on 2 cores ({BUILD_PROGRESS})")
    # -fopenmp: at::parallel_for is an inline template that runs serially
    # unless the extension itself is compiled with OpenMP (torch's ATen
    # uses the OpenMP backend); libgomp resolves to the copy torch loaded.
    # -ffp-contract=off: Note [explicit rounding] in csrc/include/fastinit/math.h.
    cxx_flags = [CXX_STANDARD, "-O3", "-g0", "-fopenmp", "-ffp-contract=off"]
    link_flags = ["-fopenmp"]
    if os.environ.get("FASTINIT_SANITIZE") == "1":  # tools/sanitize.sh
        sanitizers = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
        cxx_flags = [CXX_STANDARD, "-O1", "-g", "-fno-omit-frame-pointer", "-fopenmp", "-ffp-contract=off", *sanitizers]
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
        library_dirs=cudart_link_dirs(CUDA.toolkit.home),
        define_macros=[("FASTINIT_WITH_CUDA", "1")],
        extra_compile_args={
            "cxx": cxx_flags,
            # --fmad=false: no contraction of a * b + c in device code either
            # (Note [explicit rounding]); torch's own headers trip GCC's
            # interference-size warning.
            # --threads=0: one thread per CPU for the architectures of
            # TORCH_CUDA_ARCH_LIST (nvcc compiles them one after another
            # otherwise; fill_kernels.cu is the build's longest step).
            "nvcc": [CXX_STANDARD, "-O3", "--expt-relaxed-constexpr", "--fmad=false", "--threads=0",
                     "-Xcompiler=-Wno-interference-size"],
        },
        extra_link_args=link_flags,
    )


setup(
    ext_modules=[extension()],
    cmdclass={"build_ext": cpp_extension.BuildExtension},
)
