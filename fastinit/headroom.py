"""How many bytes this process may still allocate, so that a build that
cannot fit is refused with a sentence before anything is allocated.

Note [memory headroom]: a process can be stopped short of the machine's
free memory in three ways, and each ends worse than an error: a cgroup
memory limit (a container, a Slurm job) has the kernel kill the process
mid-fill with no message (exit 137); an address-space limit (RLIMIT_AS)
makes the allocation fail; the machine's own memory ends in swapping or the
OOM killer. So the headroom is the least of:

- the kernel's MemAvailable (/proc/meminfo);
- for each cgroup from the process's own up to the root with a memory
  limit: the limit less the usage, the usage without the inactive file
  cache the kernel reclaims before it kills (v2: memory.max,
  memory.current, inactive_file of memory.stat; v1: memory.limit_in_bytes,
  memory.usage_in_bytes, total_inactive_file);
- RLIMIT_AS less the process's address space (VmSize).

On a GPU, the device's free memory plus what torch's caching allocator
holds unused. FASTINIT_IGNORE_MEMORY_LIMIT=1 skips the check (a limit
read wrongly, or memory that other processes are about to give back).
"""

import os
import resource
from dataclasses import dataclass
from pathlib import Path

import torch

OVERRIDE = "FASTINIT_IGNORE_MEMORY_LIMIT"


@dataclass(frozen=True)
class Headroom:
    nbytes: int
    source: str  # what limits it, in words


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2**30:.2f} GiB"


def _meminfo_available(proc: Path) -> Headroom | None:
    available = _field(proc / "meminfo", "MemAvailable:")
    return Headroom(available * 1024, "MemAvailable of /proc/meminfo") if available is not None else None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def _field(path: Path, key: str) -> int | None:
    """The number after `key` on its line of `path` (memory.stat,
    /proc/meminfo, /proc/self/status), None where there is none."""
    try:
        for line in path.read_text().splitlines():
            parts = line.split()
            if parts and parts[0] == key:
                return int(parts[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


_UNLIMITED_V1 = 1 << 62  # cgroup v1 writes "no limit" as a huge page-rounded number


def _cgroup_headrooms(proc: Path, cgroup_root: Path) -> list[Headroom]:
    """One Headroom per limited cgroup from this process's up to the root."""
    try:
        lines = (proc / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2, the unified hierarchy
            base, files = cgroup_root, ("memory.max", "memory.current", "inactive_file")
        elif "memory" in controllers.split(","):
            base, files = cgroup_root / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes",
                                                   "total_inactive_file")
        else:
            continue
        folder = base / path.lstrip("/")
        while True:
            limit = _read_int(folder / files[0])
            if limit is not None and limit < _UNLIMITED_V1:
                usage = _read_int(folder / files[1]) or 0
                usage -= min(usage, _field(folder / "memory.stat", files[2]) or 0)
                found.append(Headroom(max(limit - usage, 0),
                                      f"cgroup {folder}: limit {_gib(limit)}, {_gib(usage)} in use"))
            if folder == base or folder.parent == folder:
                break
            folder = folder.parent
    return found


def _address_space(proc: Path) -> Headroom | None:
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    if limit == resource.RLIM_INFINITY:
        return None
    size = (_field(proc / "self" / "status", "VmSize:") or 0) * 1024
    return Headroom(max(limit - size, 0), f"RLIMIT_AS {_gib(limit)}, {_gib(size)} of address space in use")


def cpu_headroom(proc: Path = Path("/proc"), cgroup_root: Path = Path("/sys/fs/cgroup")) -> Headroom | None:
    """The least of Note [memory headroom]'s limits, or None where none
    can be read."""
    candidates = [_meminfo_available(proc), *_cgroup_headrooms(proc, cgroup_root), _address_space(proc)]
    candidates = [c for c in candidates if c is not None]
    return min(candidates, key=lambda c: c.nbytes) if candidates else None


def headroom(device: torch.device) -> Headroom | None:
    if device.type == "cpu":
        return cpu_headroom()
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return Headroom(free + cached, f"free memory of {device} and torch's unused cache")
    return None  # meta and others take no memory worth checking


def require(nbytes: int, device: torch.device, function: str) -> None:
    """Raises MemoryError naming `function`, the bytes needed and the bytes
    available when `nbytes` more on `device` do not fit."""
    if os.environ.get(OVERRIDE, "0") == "1":
        return
    available = headroom(device)
    if available is not None and nbytes > available.nbytes:
        raise MemoryError(
            f"{function}: the model needs {nbytes} bytes ({_gib(nbytes)}) on {device}, but this process may "
            f"allocate only {available.nbytes} bytes ({_gib(available.nbytes)}; {available.source}); nothing was "
            f"allocated. Set {OVERRIDE}=1 to try anyway")
