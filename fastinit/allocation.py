"""Storage for materialize: every tensor of a model as a view into one flat,
aligned allocation."""

import os

import torch
from torch import nn

from ._ops import empty_flat
from .headroom import require

ALIGNMENT = 64  # bytes between tensors of a materialized model


def allocate(nbytes: int, device: torch.device, populate: bool | None = None) -> torch.Tensor:
    """One flat byte buffer that reads as zeros where nothing writes it. On
    the CPU its own mmap (anonymous pages are zero), its size rounded up to
    2 MiB, whose pages the fill that first writes them faults in;
    FASTINIT_POPULATE=1 has the kernel populate them from every thread first
    (Note [populated allocations] in csrc/python/allocation.cpp: which is
    faster depends on the host); `populate` overrides the variable.
    Transparent huge pages are advised only with FASTINIT_HUGE_PAGES=1:
    where the kernel compacts memory synchronously for madvised regions
    (THP `defrag` = madvise, the common default) their cost varies from run
    to run. Elsewhere (a GPU) a zeroed tensor: the caching allocator hands
    back memory other tensors wrote, and one memset at the device's
    bandwidth costs little beside the fills.
    """
    if device.type == "cpu":
        return empty_flat(nbytes, _flag("FASTINIT_HUGE_PAGES"),
                          _flag("FASTINIT_POPULATE") if populate is None else populate)
    return torch.zeros(nbytes, dtype=torch.uint8, device=device)


def _flag(name: str) -> bool:
    return os.environ.get(name, "0") == "1"


def flat_bytes(tensors) -> int:
    """The bytes of a flat allocation holding `tensors`, each at an
    ALIGNMENT-byte boundary."""
    return sum(-(-t.numel() * t.element_size() // ALIGNMENT) * ALIGNMENT for t in tensors)


def allocate_flat(module: nn.Module, tensors: dict[int, torch.Tensor], device: torch.device, function: str,
                  storage: torch.Tensor | None = None) -> None:
    """Replace every tensor of `module` by a view into one flat allocation;
    a MemoryError naming `function` before allocating when it cannot fit
    (Note [memory headroom] in fastinit.headroom). `storage`, a byte buffer
    of at least flat_bytes(tensors) on `device`, is zeroed and used
    instead of a new allocation (a caller writing one part of a model after
    another keeps its pages)."""
    offsets, nbytes = {}, 0
    for key, t in tensors.items():
        offsets[key] = nbytes
        nbytes += flat_bytes([t])
    if storage is None:
        require(nbytes, device, function)
        flat = allocate(max(nbytes, 1), device)
    else:
        if storage.numel() < nbytes:
            raise ValueError(f"{function}: the storage holds {storage.numel()} bytes, the tensors need {nbytes}")
        flat = storage[:nbytes].zero_()
    replace_tensors(module, {key: flat[offsets[key]:offsets[key] + t.numel() * t.element_size()]
                             .view(t.dtype).view(t.shape) for key, t in tensors.items()})


def replace_tensors(module: nn.Module, data: dict[int, torch.Tensor]) -> None:
    """Every parameter and buffer of `module` whose id() is a key of `data`
    becomes that data (a parameter stays a parameter, with its
    requires_grad); tensors held under several names (tied) stay one."""
    replacements = {}
    for owner in module.modules():
        for store in (owner._parameters, owner._buffers):
            for name, t in store.items():
                if t is None or id(t) not in data:
                    continue
                if id(t) not in replacements:
                    new = data[id(t)]
                    replacements[id(t)] = nn.Parameter(new, requires_grad=t.requires_grad) \
                        if isinstance(t, nn.Parameter) else new
                store[name] = replacements[id(t)]
