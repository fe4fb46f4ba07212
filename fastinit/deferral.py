"""Deferred fills: the random fills a block of code makes are written when
something needs their values, and not at all when a later fill or a zeroing
overwrites them first.

Note [deferred fills]
~~~~~~~~~~~~~~~~~~~~~
A model's own init asks for more writes than it keeps: T5's init_weights
fills its 223 M parameters with 520 M values, transformers ties Llama's
lm_head to its embedding and fills the one tensor twice, and a bias is
often filled and then zeroed. `DeferredFills`, a TorchDispatchMode, sees
every op on the thread that entered it, fastinit's fills included, and

- takes a seeded fastinit fill (uniform_, normal_, trunc_normal_ without
  shard windows) of plain CPU tensors as a pending write: the seed was
  drawn when the fill was called, so the values it stands for and the
  generator's state afterwards are those of the fill made at once;
- drops a pending write that a later fill, `zero_`, `fill_` with a number
  or `copy_` overwrites whole (the later write covers its memory: the
  writer is contiguous and spans it), and writes at once any pending write
  the later one covers only in part;
- before any other op (a read, a partial write, another fastinit op) that
  touches a pending write's memory, writes it; ops that only make views
  (`op.is_view`: detach, slicing, reshaping without a copy) touch nothing;
- on exit, writes what is still pending, grouped by distribution into one
  batched op call each.

So the values every tensor holds at exit, and whatever any op read on the
way, are bit for bit those of running each fill when called. Memory is
compared by address: pending writes never overlap (a new one first writes
or drops those it meets), and each holds its tensor, so its memory cannot
be freed and handed to another tensor before the write.

Reads that bypass the dispatcher go through Tensor methods that hand out
the memory itself (`data_ptr`, `numpy`, `tolist`, `untyped_storage`,
`__array__`, `__dlpack__`, ...; `torch.save` and pickling reach storage
through `untyped_storage`): a TorchFunctionMode entered with the dispatch
mode, `_RawReads`, writes what such a call exposes before it runs. A tensor
subclass that wraps others (DTensor) runs its ops on the tensors inside,
below the mode, so a read of a wrapper writes what its inner tensors
(`__tensor_flatten__`) hold; a tensor whose memory cannot be told (another
layout, a subclass without that protocol) has every pending write written
first.

A process forked in the block copies the memory as it is: before a fork
(os.register_at_fork) the forking thread's pending writes are written.

What it still cannot see: other threads (modes are per thread), and C++
code handed a tensor outside the dispatcher (a pybind11 function reading
`data_ptr()` in C++). So it runs where a block only builds or initializes
models: materialize() runs a model's protocol in it, on memory it just
allocated, and patched(defer_fills=True) runs the user's block in it.

Note [unreachable pending fills]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
A pending write holds its tensor, so a tensor the model dropped (the
lm_head a transformers model replaces by its tied embedding) would still be
written on exit: needless time, and pages faulted in for memory freed right
after. On exit a pending write is dropped instead when nothing but the
write can reach its memory: its tensor's Python object is referenced by the
write alone and has no weak references, and (csrc/python/references.cpp)
its TensorImpl is owned by that object alone and its storage by that
TensorImpl alone, with no weak references that could be upgraded. Such
memory is freed with the write, unread by anyone.
"""

import bisect
import os
import sys
import threading
import weakref

import torch
from torch import Tensor
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode, is_traceable_wrapper_subclass

from ._ops import FILLED_DTYPES, held_only_by_its_python_object, ops


def _distribution_parameters(op) -> int:
    """How many per-tensor parameter lists (float[] arguments) `op`'s
    schema takes."""
    return sum(1 for argument in op._schema.arguments if str(argument.type) == "List[float]")


# Seeded fills: (tensors, seeds, *per-tensor parameter lists, global_shapes,
# offsets) -> the number of parameter lists, read from each op's schema.
_DEFERRABLE = {op: _distribution_parameters(op)
               for op in (ops.uniform_.default, ops.normal_.default, ops.trunc_normal_.default)}
# In-place ops that write every element of `self` from no pending memory
# other than their arguments (which are checked as reads).
_OVERWRITES = {torch.ops.aten.zero_.default, torch.ops.aten.fill_.Scalar, torch.ops.aten.copy_.default}
# Tensor methods that expose a tensor's memory without a dispatcher op.
_RAW_READS = frozenset({Tensor.data_ptr, Tensor.numpy, Tensor.tolist, Tensor.untyped_storage, Tensor.storage,
                        Tensor._typed_storage, Tensor.__array__, Tensor.__dlpack__})
_PLAIN_TYPES = (Tensor, torch.nn.Parameter)


class _Pending:
    __slots__ = ("start", "end", "op", "tensor", "seed", "params")

    def __init__(self, start, end, op, tensor, seed, params):
        self.start, self.end, self.op, self.tensor, self.seed, self.params = start, end, op, tensor, seed, params


def _span(tensor: Tensor) -> tuple[int, int] | None:
    """The [start, end) byte addresses a plain CPU tensor's elements lie in,
    or None for a tensor that holds no CPU memory of its own to track."""
    if type(tensor) not in _PLAIN_TYPES or tensor.device.type != "cpu" \
            or tensor.layout != torch.strided or tensor.numel() == 0:
        return None
    last = sum((size - 1) * stride for size, stride in zip(tensor.shape, tensor.stride()))
    with torch._C.DisableTorchFunction():  # not a raw read of the user's (_RawReads)
        start = tensor.data_ptr()
    return start, start + (last + 1) * tensor.element_size()


def _unreachable(entry: "_Pending") -> bool:
    """Note [unreachable pending fills]: nothing but `entry` reaches its
    tensor's memory (getrefcount counts its own argument too)."""
    return sys.getrefcount(entry.tensor) == 2 and weakref.getweakrefcount(entry.tensor) == 0 \
        and held_only_by_its_python_object(entry.tensor)


def _tensors(values):
    for value in values:
        if isinstance(value, Tensor):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from (v for v in value if isinstance(v, Tensor))


class _RawReads(TorchFunctionMode):
    """Writes what a raw read (_RAW_READS) exposes before it runs (Note
    [deferred fills])."""

    def __init__(self, fills: "DeferredFills"):
        super().__init__()
        self._fills = fills

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _RAW_READS and args and isinstance(args[0], Tensor):
            self._fills.write_before_read(args[0])
        return func(*args, **(kwargs or {}))


class DeferredFills(TorchDispatchMode):
    """Note [deferred fills]. Exiting writes every pending fill that
    anything can still read (Note [unreachable pending fills])."""

    def __init__(self):
        super().__init__()
        self._starts: list[int] = []  # sorted
        self._pending: dict[int, _Pending] = {}  # by start
        self._raw_reads = _RawReads(self)
        self._writing = False
        self.values_dropped = 0  # elements whose writes were overwritten before anything read them
        self.values_unreachable = 0  # elements whose writes nothing could read at exit

    def __enter__(self):
        result = super().__enter__()
        self._raw_reads.__enter__()
        self._thread = threading.get_ident()
        _entered.add(self)
        return result

    def __exit__(self, *exc):
        _entered.discard(self)
        try:
            self._raw_reads.__exit__(*exc)
        finally:
            try:
                return super().__exit__(*exc)
            finally:
                self._write_at_exit()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self._writing or func.is_view:
            return func(*args, **kwargs)
        if func in _DEFERRABLE and self._defer(func, args, kwargs):
            return None
        written = args[0] if func in _OVERWRITES else None
        for tensor in _tensors(args[1:] if written is not None else args):
            self.write_before_read(tensor)
        for tensor in _tensors(kwargs.values()):
            self.write_before_read(tensor)
        if written is not None:
            self._overwrite(written)
        return func(*args, **kwargs)

    def write_before_read(self, tensor: Tensor) -> None:
        """Writes the pending fills of the memory an op given `tensor` may
        read: its own elements, or for a wrapper subclass those of the
        tensors it wraps; everything pending when that cannot be told."""
        if not self._pending or tensor.device.type == "meta":
            return
        if type(tensor) in _PLAIN_TYPES and tensor.layout == torch.strided:
            span = _span(tensor)
            if span is not None:
                self._write(self._overlapping(*span))
            return
        if is_traceable_wrapper_subclass(tensor):
            for name in tensor.__tensor_flatten__()[0]:
                self.write_before_read(getattr(tensor, name))
            return
        self.write_all()

    def write_all(self) -> None:
        """Writes every pending fill."""
        self._write(list(self._pending.values()))

    def _write_at_exit(self) -> None:
        for entry in list(self._pending.values()):
            if _unreachable(entry):
                self._remove(entry)
                self.values_unreachable += entry.tensor.numel()
        self.write_all()

    def _defer(self, func, args, kwargs) -> bool:
        count = _DEFERRABLE[func]
        tensors, seeds, params = args[0], args[1], args[2:2 + count]
        windows = list(args[2 + count:]) + [kwargs.get("global_shapes"), kwargs.get("offsets")]
        if any(w is not None for w in windows) or len(params) != count:
            return False
        spans = [_span(t) for t in tensors]
        if None in spans or not all(t.dtype in FILLED_DTYPES for t in tensors):
            return False
        for i, (tensor, (start, end)) in enumerate(zip(tensors, spans)):
            self._overwrite(tensor, (start, end))
            self._insert(_Pending(start, end, func, tensor, seeds[i], tuple(p[i] for p in params)))
        return True

    def _overlapping(self, start: int, end: int) -> list[_Pending]:
        # Pending spans do not overlap, so sorted by start they are sorted by end too.
        found = []
        i = bisect.bisect_left(self._starts, end) - 1
        while i >= 0 and self._pending[self._starts[i]].end > start:
            found.append(self._pending[self._starts[i]])
            i -= 1
        return found

    def _overwrite(self, tensor: Tensor, span=None) -> None:
        """`tensor` is about to be written whole: drop the pending writes it
        covers, write those it covers in part."""
        span = span or _span(tensor)
        if span is None:
            return
        start, end = span
        covering = tensor.is_contiguous()
        partial = []
        for entry in self._overlapping(start, end):
            if covering and start <= entry.start and entry.end <= end:
                self._remove(entry)
                self.values_dropped += entry.tensor.numel()
            else:
                partial.append(entry)
        self._write(partial)

    def _insert(self, entry: _Pending) -> None:
        bisect.insort(self._starts, entry.start)
        self._pending[entry.start] = entry

    def _remove(self, entry: _Pending) -> None:
        del self._starts[bisect.bisect_left(self._starts, entry.start)]
        del self._pending[entry.start]

    def _write(self, entries: list[_Pending]) -> None:
        """Writes `entries`, one batched op call per distribution."""
        by_op: dict = {}
        for entry in entries:
            self._remove(entry)
            by_op.setdefault(entry.op, []).append(entry)
        # From _RawReads this mode is active: its writes must not be deferred again.
        self._writing = True
        try:
            for op, group in by_op.items():
                params = [list(column) for column in zip(*(e.params for e in group))]
                op([e.tensor for e in group], [e.seed for e in group], *params)
        finally:
            self._writing = False


# Every DeferredFills inside its block, for the fork hook.
_entered: "weakref.WeakSet[DeferredFills]" = weakref.WeakSet()


def _write_before_fork() -> None:
    """A forked child gets the memory as it is: write what the forking
    thread's blocks hold pending (other threads' blocks may be mid-update)."""
    thread = threading.get_ident()
    for fills in list(_entered):
        if fills._thread == thread:
            fills.write_all()


os.register_at_fork(before=_write_before_fork)
