"""Memory: long loops of calls keep the resident set flat (no leaks), and
in-place fills allocate no full-size temporaries. Both run in a fresh
process so that other tests' allocations do not blur the figures."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
LEAK_CALLS = 10_000

LEAK_SCRIPT = r"""
import json, sys, torch
sys.path.insert(0, {tests!r})
from initializers import INITIALIZERS

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

growth = {{}}
for name, fn in INITIALIZERS.items():
    generator = torch.Generator().manual_seed(0)
    tensors = [torch.empty(64, 64), torch.empty(48, 64, dtype=torch.bfloat16).t()]
    for k in range(1000):  # warm up: caches, allocator pools
        fn(tensors[k % 2], generator)
    before = rss_mb()
    for k in range({calls}):
        fn(tensors[k % 2], generator)
    growth[name] = rss_mb() - before
print(json.dumps(growth))
"""

TEMPORARY_SCRIPT = r"""
import json, resource, sys, torch
sys.path.insert(0, {tests!r})
from initializers import INITIALIZERS
import fastinit

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

# 256 MiB destinations, touched before the first measurement.
rows, cols = 8192, 8192
destinations = {{
    "float32": torch.ones(rows, cols),
    "float32 transposed": torch.ones(cols, rows).t(),
    "bfloat16": torch.ones(rows, 2 * cols, dtype=torch.bfloat16),
    "float64": torch.ones(rows, cols // 2, dtype=torch.float64),
}}
extra = {{}}
for name in {names!r}:
    for kind, tensor in destinations.items():
        fn = INITIALIZERS[name]
        fn(tensor[:64], None)  # load everything the call needs
        before = peak_mb()
        fn(tensor, None)
        extra[f"{{name}} {{kind}}"] = peak_mb() - before
model = fastinit.reset_parameters  # the batched path: one op call on many tensors
layers = torch.nn.Sequential(*[torch.nn.Linear(2048, 2048) for _ in range(16)])
fastinit.reset_parameters(layers)
before = peak_mb()
fastinit.reset_parameters(layers)
extra["reset_parameters 16 x Linear(2048, 2048)"] = peak_mb() - before
print(json.dumps(extra))
"""

ORTHOGONAL_SCRIPT = r"""
import json, resource, torch
import fastinit, fastinit.init as fi

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

cases = {{
    "square float32 (its own workspace)": lambda: torch.ones(4096, 4096),
    "tall float32": lambda: torch.ones(8192, 2048),
    "wide bfloat16": lambda: torch.ones(2048, 8192, dtype=torch.bfloat16),
    "96 x 512^2 stack (chunked)": lambda: torch.ones(96, 512, 512),
}}
fi.orthogonal_(torch.empty(64, 64))
extra = {{}}
for name, make in cases.items():
    tensor = make()
    before = peak_mb()
    if tensor.dim() == 3:
        fastinit.batched_orthogonal_(tensor)
    else:
        fi.orthogonal_(tensor)
    extra[name] = peak_mb() - before
print(json.dumps(extra))
"""

# orthogonal_ (a gaussian workspace, tested below) and sparse_ (the zero
# pattern, per thread) are documented exceptions: see docs/design.md.
ELEMENTWISE = ["uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
               "kaiming_normal_", "mixture_", "constant_", "zeros_", "ones_"]


def _run(script: str) -> dict:
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_long_loops_do_not_leak():
    growth = _run(LEAK_SCRIPT.format(tests=str(TESTS), calls=LEAK_CALLS))
    # A leak of even one 16 KiB tensor per call would grow by ~160 MiB.
    leaking = {name: mb for name, mb in growth.items() if mb > 4.0}
    assert not leaking, f"RSS grew over {LEAK_CALLS} calls (MiB): {leaking}"


@pytest.mark.filterwarnings("ignore")
def test_in_place_fills_allocate_no_full_size_temporaries():
    extra = _run(TEMPORARY_SCRIPT.format(tests=str(TESTS), names=ELEMENTWISE))
    # A full-size temporary is 256 MiB (the 16-layer model: 256 MiB too).
    too_big = {case: mb for case, mb in extra.items() if mb > 16.0}
    assert not too_big, f"peak RSS grew during in-place fills (MiB): {too_big}"


def test_orthogonal_workspace_is_at_most_one_matrix():
    """The 64 MiB matrices need at most one float32 matrix of workspace
    (none when the destination can hold it), a 96 MiB stack at most one
    chunk (fastinit.init._ORTHOGONAL_WORKSPACE_BYTES, 32 MiB); LAPACK's own
    work arrays took up to 16 MiB more here, 32 MiB are allowed for them."""
    extra = _run(ORTHOGONAL_SCRIPT.format())
    lapack = 32.0
    bounds = {"square float32 (its own workspace)": lapack, "tall float32": 64 + lapack,
              "wide bfloat16": 64 + lapack, "96 x 512^2 stack (chunked)": 32 + lapack}
    over = {case: mb for case, mb in extra.items() if mb > bounds[case]}
    assert not over, f"orthogonal_ used more than its workspace (MiB): {over} (bounds {bounds})"


# Refusing a build that cannot fit (Note [memory headroom] in fastinit.headroom).

ADDRESS_LIMIT_SCRIPT = r"""
import json, resource
import torch
from torch import nn
import fastinit
from fastinit.headroom import _field
from pathlib import Path

size = _field(Path("/proc/self/status"), "VmSize:") * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + (512 << 20), resource.RLIM_INFINITY))
with torch.device("meta"):
    model = nn.Sequential(*[nn.Linear(8192, 8192, bias=False) for _ in range(4)])  # 1 GiB
before = model[0].weight
try:
    fastinit.materialize(model)
    print(json.dumps({{"error": None}}))
except Exception as error:
    print(json.dumps({{"type": type(error).__name__, "error": str(error),
                      "untouched": model[0].weight is before and model[0].weight.is_meta}}))
"""


@pytest.mark.parametrize("override", [False, True])
def test_materialize_refuses_a_model_beyond_the_address_space_limit(override, monkeypatch):
    """In a child with RLIMIT_AS at its address space + 512 MiB, a 1 GiB
    model is refused before anything is allocated, naming the bytes needed,
    the bytes available and the limit; with the override, the allocation
    itself fails (the check is what says it first)."""
    if override:
        monkeypatch.setenv("FASTINIT_IGNORE_MEMORY_LIMIT", "1")
    result = _run(ADDRESS_LIMIT_SCRIPT.format())
    if override:
        assert "could not allocate" in result["error"]
        return
    assert result["type"] == "MemoryError" and result["untouched"], result
    assert result["error"].startswith("fastinit.materialize: the model needs 1073741824 bytes (1.00 GiB) on cpu, "
                                      "but this process may allocate only "), result["error"]
    assert "RLIMIT_AS" in result["error"] and "FASTINIT_IGNORE_MEMORY_LIMIT=1" in result["error"]


def _fake_proc(root: Path, cgroup_line: str, available_kib: int) -> Path:
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "meminfo").write_text(f"MemTotal: 99999999 kB\nMemAvailable: {available_kib} kB\n")
    (root / "proc" / "self" / "cgroup").write_text(cgroup_line + "\n")
    (root / "proc" / "self" / "status").write_text("VmSize:\t 1000 kB\n")
    return root / "proc"


def test_headroom_of_a_cgroup_v2_limit_on_a_parent(tmp_path):
    """v2: the tightest limit from the process's cgroup up, usage without
    the inactive file cache."""
    from fastinit.headroom import cpu_headroom

    proc = _fake_proc(tmp_path, "0::/job/step", available_kib=16 << 20)  # 16 GiB free on the machine
    step, job = tmp_path / "cg" / "job" / "step", tmp_path / "cg" / "job"
    step.mkdir(parents=True)
    (step / "memory.max").write_text("max\n")
    (job / "memory.max").write_text(f"{2 << 30}\n")
    (job / "memory.current").write_text(f"{1 << 30}\n")
    (job / "memory.stat").write_text(f"anon 100\ninactive_file {256 << 20}\nactive_file 5\n")
    found = cpu_headroom(proc, tmp_path / "cg")
    assert found.nbytes == (2 << 30) - (1 << 30) + (256 << 20)
    assert str(job) in found.source and "limit 2.00 GiB" in found.source


def test_headroom_of_a_cgroup_v1_limit_and_of_no_limit(tmp_path):
    from fastinit.headroom import cpu_headroom

    proc = _fake_proc(tmp_path, "7:cpu,cpuacct:/x\n5:memory:/docker/abc", available_kib=8 << 20)
    group = tmp_path / "cg" / "memory" / "docker" / "abc"
    group.mkdir(parents=True)
    (group / "memory.limit_in_bytes").write_text(f"{3 << 30}\n")
    (group / "memory.usage_in_bytes").write_text(f"{1 << 30}\n")
    (group / "memory.stat").write_text("total_inactive_file 0\n")
    (tmp_path / "cg" / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "none"
    assert cpu_headroom(proc, tmp_path / "cg").nbytes == 2 << 30
    (group / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    unlimited = cpu_headroom(proc, tmp_path / "cg")
    assert unlimited.nbytes == 8 << 30 and unlimited.source == "MemAvailable of /proc/meminfo"
