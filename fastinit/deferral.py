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

What it cannot see: reads that bypass the dispatcher (`Tensor.numpy()`,
a C extension reading `data_ptr()`), and other threads (modes are per
thread). So it is used only where fastinit owns the whole block:
materialize() runs a model's protocol in it, on memory it just allocated.
"""

import bisect

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

from ._ops import ops

# Seeded fills: (tensors, seeds, *per-tensor parameter lists, global_shapes,
# offsets); the number of parameter lists.
_DEFERRABLE = {ops.uniform_.default: 2, ops.normal_.default: 2, ops.trunc_normal_.default: 4}
# In-place ops that write every element of `self` from no pending memory
# other than their arguments (which are checked as reads).
_OVERWRITES = {torch.ops.aten.zero_.default, torch.ops.aten.fill_.Scalar, torch.ops.aten.copy_.default}


class _Pending:
    __slots__ = ("start", "end", "op", "tensor", "seed", "params")

    def __init__(self, start, end, op, tensor, seed, params):
        self.start, self.end, self.op, self.tensor, self.seed, self.params = start, end, op, tensor, seed, params


def _span(tensor: Tensor) -> tuple[int, int] | None:
    """The [start, end) byte addresses a plain CPU tensor's elements lie in,
    or None for a tensor that holds no CPU memory of its own to track."""
    if type(tensor) not in (Tensor, torch.nn.Parameter) or tensor.device.type != "cpu" \
            or tensor.layout != torch.strided or tensor.numel() == 0:
        return None
    last = sum((size - 1) * stride for size, stride in zip(tensor.shape, tensor.stride()))
    start = tensor.data_ptr()
    return start, start + (last + 1) * tensor.element_size()


def _tensors(values):
    for value in values:
        if isinstance(value, Tensor):
            yield value
        elif isinstance(value, (list, tuple)):
            yield from (v for v in value if isinstance(v, Tensor))


class DeferredFills(TorchDispatchMode):
    """Note [deferred fills]. Exiting writes every pending fill."""

    def __init__(self):
        super().__init__()
        self._starts: list[int] = []  # sorted
        self._pending: dict[int, _Pending] = {}  # by start
        self.values_dropped = 0  # elements whose writes were overwritten before anything read them

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            self._write(list(self._pending.values()))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _DEFERRABLE and self._defer(func, args, kwargs):
            return None
        if func.is_view:
            return func(*args, **kwargs)
        written = None
        if func in _OVERWRITES:
            written = args[0]
            reads = list(_tensors(args[1:])) + list(_tensors(kwargs.values()))
        else:
            reads = list(_tensors(args)) + list(_tensors(kwargs.values()))
        for tensor in reads:
            self._write_overlapping(tensor)
        if written is not None:
            self._overwrite(written)
        return func(*args, **kwargs)

    def _defer(self, func, args, kwargs) -> bool:
        count = _DEFERRABLE[func]
        tensors, seeds, params = args[0], args[1], args[2:2 + count]
        windows = list(args[2 + count:]) + [kwargs.get("global_shapes"), kwargs.get("offsets")]
        if any(w is not None for w in windows) or len(params) != count:
            return False
        spans = [_span(t) for t in tensors]
        if None in spans or not all(t.dtype.is_floating_point for t in tensors):
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

    def _write_overlapping(self, tensor: Tensor) -> None:
        span = _span(tensor)
        if span is not None and self._pending:
            self._write(self._overlapping(*span))

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
        for op, group in by_op.items():
            params = [list(column) for column in zip(*(e.params for e in group))]
            op([e.tensor for e in group], [e.seed for e in group], *params)
