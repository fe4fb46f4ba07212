"""Everything a GPU can tell about fastinit's CUDA half, in one command.

    bash tools/gpu_check.sh OUT_DIR [--plan]

On a machine with an NVIDIA GPU, a CUDA build of torch (2.11 to 2.15, as CI
builds them) and a matching nvcc, with no network: builds fastinit in place
for this GPU's architecture, then runs, each with its own time limit, the
CUDA tests,
torch.compile on CUDA, a CPU == CUDA bit check of every float32
initializer, compute-sanitizer (memcheck) on a short kernel run and the
report's GPU rows (`python -m fastinit.bench --device cuda`: against stock
on the same GPU and a device-to-device copy of the same bytes). Writes
OUT_DIR/summary.md (one line per step: passed / failed, seconds, the
step's last output line) with every step's full log and the report beside
it; exits 1 if a step failed. The steps' time limits add up to 8 minutes.

Without a GPU it builds in place all the same (for TORCH_CUDA_ARCH_LIST, by
default 8.0 and 9.0), says in one line that there is no GPU and exits 0
if the build passed: CI runs it so against the oldest torch. `--plan`
prints the steps it would run and exits.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Step:
    name: str
    command: list[str]
    timeout_s: int
    env: dict | None = None


@dataclass
class Outcome:
    step: Step
    returncode: int | None  # None: timed out
    seconds: float
    last_line: str


def gpu_name() -> str | None:
    """The first GPU's name, or None where torch sees no GPU."""
    probe = "import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
    try:
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    name = result.stdout.strip().splitlines()[-1] if result.returncode == 0 and result.stdout.strip() else ""
    return name or None


def arch_list() -> str:
    """This GPU's compute capability as TORCH_CUDA_ARCH_LIST wants it."""
    probe = "import torch; print('%d.%d' % torch.cuda.get_device_capability())"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    return result.stdout.strip() or "9.0"


BIT_CHECK = """
import torch, sys
sys.path.insert(0, 'tests')
from initializers import INITIALIZERS
failed = []
for name, fn in INITIALIZERS.items():
    cpu, cuda = torch.empty(257, 129), torch.empty(257, 129, device='cuda')
    fn(cpu, torch.Generator().manual_seed(3)); fn(cuda, torch.Generator().manual_seed(3))
    if name == 'orthogonal_':  # LAPACK's and cuSOLVER's orgqr round differently
        same = torch.allclose(cpu, cuda.cpu(), atol=1e-5)
        print(f'{name}: {"equal within 1e-5" if same else "DIFFERENT"}')
    else:
        same = torch.equal(cpu.view(torch.int32), cuda.cpu().view(torch.int32))
        print(f'{name}: {"bit-identical" if same else "DIFFERENT"}')
    failed += [] if same else [name]
print(f'{len(INITIALIZERS) - len(failed)} of {len(INITIALIZERS)} float32 initializers equal on CPU and CUDA')
sys.exit(1 if failed else 0)
"""

COMPILE_CHECK = """
import torch, fastinit.init as init
def f(w):
    init.kaiming_uniform_(w, a=5 ** 0.5); init.trunc_normal_(w, std=0.02)
    return w
compiled = torch.compile(f, fullgraph=True, backend='inductor')
w = torch.empty(1024, 1024, device='cuda')
torch.manual_seed(0); eager = f(w.clone())
torch.manual_seed(0); out = compiled(w.clone())
assert torch.equal(eager, out), 'compiled and eager calls differ'
print('torch.compile(fullgraph=True) on CUDA: same values as eager')
"""

SANITIZED_RUN = """
import torch, fastinit, fastinit.init as init
for shape in [(7,), (1000, 33), (64, 64, 3)]:
    for dtype in (torch.float32, torch.bfloat16, torch.float16, torch.float64):
        t = torch.empty(shape, device='cuda', dtype=dtype)
        init.uniform_(t); init.normal_(t); init.trunc_normal_(t, std=0.02)
init.orthogonal_(torch.empty(64, 32, device='cuda'))
init.sparse_(torch.empty(50, 20, device='cuda'), 0.3)
fastinit.reset_parameters(torch.nn.Sequential(*[torch.nn.Linear(16, 16) for _ in range(8)]).cuda())
torch.cuda.synchronize()
print('short kernel run finished')
"""


def build_limit_s(cores: int) -> int:
    """The build step's limit: 180 s on the GPU machines' 16 cores, and
    proportionally more on fewer (the compile units run in parallel)."""
    return 180 * max(1, 16 // max(cores, 1))


def plan(out: Path, cores: int | None = None) -> list[Step]:
    """The steps in order; on 16 cores their time limits add up to 8
    minutes."""
    python = sys.executable
    sanitizer = Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")) / "bin" / "compute-sanitizer"
    build_env = {"FASTINIT_CUDA": "1", "TORCH_CUDA_ARCH_LIST": os.environ.get("TORCH_CUDA_ARCH_LIST", "")}
    return [
        Step("build in place", [python, "setup.py", "build_ext", "--inplace"],
             build_limit_s(cores or os.cpu_count() or 1), build_env),
        Step("CUDA tests", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cuda.py",
                            "tests/test_deterministic_mode.py", "tests/test_opcheck.py"], 90),
        Step("torch.compile on CUDA", [python, "-c", COMPILE_CHECK], 45),
        Step("CPU == CUDA bits", [python, "-c", BIT_CHECK], 30),
        Step("compute-sanitizer memcheck", [str(sanitizer), "--tool", "memcheck", "--error-exitcode", "1",
                                            python, "-c", SANITIZED_RUN], 60, {"PYTORCH_NO_CUDA_MEMORY_CACHING": "1"}),
        Step("report, GPU rows", [python, "-m", "fastinit.bench", "--device", "cuda", "--repeat", "5",
                                  "--out", str(out / "bench")], 75),
    ]


def run_step(step: Step, log: Path) -> Outcome:
    env = dict(os.environ, **{k: v for k, v in (step.env or {}).items() if v})
    start = time.perf_counter()
    with log.open("w") as handle:
        try:
            returncode = subprocess.run(step.command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                        timeout=step.timeout_s).returncode
        except subprocess.TimeoutExpired:
            returncode = None
        except OSError as error:
            handle.write(f"{error}\n")
            returncode = 127
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return Outcome(step, returncode, time.perf_counter() - start, lines[-1] if lines else "")


def summary(gpu: str, outcomes: list[Outcome]) -> str:
    """The markdown summary: the GPU, then one row per step."""
    rows = [f"# fastinit GPU check on {gpu}", "", "| step | result | seconds | last line |", "|---|---|---:|---|"]
    for o in outcomes:
        result = "timed out" if o.returncode is None else "passed" if o.returncode == 0 else f"failed ({o.returncode})"
        rows.append(f"| {o.step.name} | {result} | {o.seconds:.0f} | {o.last_line.replace('|', '/')[:160]} |")
    passed = sum(o.returncode == 0 for o in outcomes)
    rows += ["", f"{passed} of {len(outcomes)} steps passed"]
    return "\n".join(rows) + "\n"


def _log_name(step: Step) -> str:
    return "".join(c if c.isalnum() else "-" for c in step.name.lower()).strip("-") + ".log"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for summary.md, the step logs and the report")
    parser.add_argument("--plan", action="store_true", help="print the steps and exit")
    args = parser.parse_args(argv)
    if args.plan:
        for step in plan(args.out):
            shown = ["<script>" if "\n" in part else part for part in step.command]
            print(f"{step.name} (limit {step.timeout_s} s): {' '.join(shown)}")
        return 0
    gpu = gpu_name()
    args.out.mkdir(parents=True, exist_ok=True)
    if gpu is not None:
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", arch_list())
    outcomes = []
    for step in plan(args.out):
        if step.name.startswith("compute-sanitizer") and not Path(step.command[0]).exists() \
                and shutil.which("compute-sanitizer") is None:
            continue
        outcome = run_step(step, args.out / _log_name(step))
        outcomes.append(outcome)
        print(f"{step.name}: {'passed' if outcome.returncode == 0 else 'FAILED'} in {outcome.seconds:.0f} s", flush=True)
        (args.out / "summary.md").write_text(summary(gpu or "no GPU", outcomes))
        if step.name == "build in place" and (outcome.returncode != 0 or gpu is None):
            break
    if gpu is None:
        print("gpu_check: no GPU visible to torch here; built in place, nothing else checked")
    print(f"wrote {args.out / 'summary.md'}")
    return 0 if all(o.returncode == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
