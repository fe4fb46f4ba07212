"""What the GPU would run: instruction counts of every CUDA fill kernel,
read from the compiled object with cuobjdump (no GPU needed).

    python tools/sass_report.py [OBJECT]     (default: the build's fill_kernels.o)

For each architecture and kernel: global stores by width (a 16-byte
`.128` store writes four float32 lanes at once; `ST.E` is a generic-address
store), local-memory loads and stores (`LDL`/`STL`: register spills or
arrays indexed at run time) and subroutine calls (`CALL`: 64-bit division,
for example). cuobjdump comes with the CUDA toolkit and with the triton
wheel that torch installs (triton/backends/nvidia/bin).
"""

import argparse
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CLASSES = ("store 16 B", "store 8 B", "store 4 B", "store 2 B", "local load", "local store", "call")


def classify(opcode: str) -> str | None:
    """The class of an opcode (with its modifiers), or None: global and
    generic stores by width (STG/ST, `.128`, `.64`, `.U16`; 4 bytes when
    no width is given), local loads and stores (LDL/STL, any width) and
    subroutine calls."""
    parts = opcode.split(".")
    if parts[0] in ("STG", "ST"):
        width = "16 B" if "128" in parts else "8 B" if "64" in parts else "2 B" if {"U16", "S16"} & set(parts) \
            else "1 B" if {"U8", "S8"} & set(parts) else "4 B"
        return f"store {width}" if width != "1 B" else None
    return {"LDL": "local load", "STL": "local store", "CALL": "call"}.get(parts[0])


def find_cuobjdump() -> str | None:
    candidates = [shutil.which("cuobjdump"), "/usr/local/cuda/bin/cuobjdump"]
    try:
        import triton

        candidates.append(str(Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"))
    except ImportError:
        pass
    return next((c for c in candidates if c and Path(c).exists()), None)


def find_object() -> Path | None:
    found = sorted(ROOT.glob("build/**/csrc/cuda/fill_kernels.o"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def kernel_label(mangled: str) -> str:
    """A short name: distribution and output dtype of a fill kernel, and
    "(argument)" for the kernels that take their destinations as the
    kernel argument (Note [kernel-argument launches])."""
    distribution = next((d for d in ("MixtureF32", "TruncNormalF64", "TruncNormalF32", "NormalParams", "UniformParams")
                         if d in mangled), "kernel")
    distribution = {"NormalParams": "Normal", "UniformParams": "Uniform"}.get(distribution, distribution)
    if distribution in ("Normal", "Uniform"):
        distribution += "F64" if "GroupOfTwo" in mangled else "F32"
    dtype = ("bfloat16" if "BFloat16" in mangled else "float16" if "Half" in mangled
             else "float64" if re.search(r"dEEv(PK|N)", mangled) else "float32")
    form = " (argument)" if "fill_argument_kernel" in mangled else ""
    return f"{distribution} -> {dtype}{form}"


def parse(sass: str) -> dict[str, dict[str, Counter]]:
    """{architecture: {kernel label: Counter of CLASSES}}."""
    result: dict[str, dict[str, Counter]] = {}
    arch, kernel = None, None
    for line in sass.splitlines():
        if line.startswith("arch = "):
            arch = line.split("=", 1)[1].strip()
            result.setdefault(arch, {})
            continue
        match = re.search(r"Function : (\S+)", line)
        if match:
            kernel = kernel_label(match.group(1))
            result[arch].setdefault(kernel, Counter())
            continue
        instruction = re.search(r"/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)", line)
        if instruction and kernel is not None:
            kind = classify(instruction.group(1))
            if kind is not None:
                result[arch][kernel][kind] += 1
    return result


def table(counts: dict[str, dict[str, Counter]]) -> str:
    lines = []
    for arch, kernels in counts.items():
        lines += [f"\n{arch}: {len(kernels)} kernels\n", "| kernel | " + " | ".join(CLASSES) + " |",
                  "|---|" + "---:|" * len(CLASSES)]
        for kernel, counter in sorted(kernels.items()):
            lines.append(f"| {kernel} | " + " | ".join(str(counter[c]) for c in CLASSES) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("object", nargs="?", type=Path, default=None, help="a CUDA object (default: the build's)")
    args = parser.parse_args(argv)
    cuobjdump, obj = find_cuobjdump(), args.object or find_object()
    if cuobjdump is None or obj is None:
        print(f"sass_report: {'no cuobjdump found' if cuobjdump is None else 'no CUDA object built'}")
        return 1
    sass = subprocess.run([cuobjdump, "--dump-sass", str(obj)], capture_output=True, text=True, check=True).stdout
    print(f"{obj.relative_to(ROOT) if obj.is_relative_to(ROOT) else obj}, disassembled by {cuobjdump}")
    print(table(parse(sass)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
