"""patch(), unpatch() and patched(): run unmodified model code on fastinit.

Two mechanisms, both undone on exit:

1. Functions swapped by name (every thread). Libraries call torch's
initializers three ways: as attributes of
torch.nn.init (`init.kaiming_uniform_`), as names imported at import time
(`from torch.nn.init import xavier_uniform_`, as torch.nn.modules.activation
and .transformer do), and through tables captured at import time
(transformers 5 keeps one in transformers.initialization). patch() swaps
fastinit's function of the same name into all three: it scans every loaded
module's namespace, and the small dicts in it, for torch's function objects.
unpatch() puts every one back. Patching nests (a depth count) and is
guarded by a lock, so threads may enter patched() while others run.

The functions swapped in are copies of fastinit's (same code, own
identity): unpatch() also finds them where modules imported *while*
patched captured them, and restores torch's there too, while names bound
to fastinit.init's own functions are left alone. The initializers that
model libraries write themselves (timm's trunc_normal_, trunc_normal_tf_,
variance_scaling_, lecun_normal_: fastinit.libraries) are swapped the same
way, each for one fastinit kernel call, when the library is imported.

2. Random fills made any other way (the entering thread only): a
TorchFunctionMode on that thread's mode stack answers `tensor.normal_`,
`tensor.uniform_`, `torch.randn`, `torch.rand`, `randn_like`, `rand_like`
and `torch.normal` with fastinit's kernels (fastinit.random_fills). Other
threads keep torch's.

patched() is meant for model construction and re-initialization, not for
training loops: dropout, randint, randperm and bernoulli stay torch's, and
the mode costs every torch call on the thread a little Python.
"""

import contextlib
import sys
import threading
import types

import torch.nn.init as _torch_init

from . import init as _fast_init
from ._ops import find_holders
from .deferral import DeferredFills
from .keyed import SEED_CHOICES, keying_protocols, wrap_protocols
from .libraries import loaded_equivalents
from .random_fills import RandomFills

_TORCH_EQUIVALENTS = [(getattr(_torch_init, name), getattr(_fast_init, name)) for name in _torch_init.__all__]
_MAX_TABLE_SIZE = 256  # dicts scanned for captured initializers

_lock = threading.RLock()
_depth = 0
_swapped: list[tuple[dict, object, object]] = []  # (namespace, key, torch's function)
_stand_ins: dict[int, tuple] = {}  # id(stand-in) -> (stand-in, torch's or the library's function)
_wrapped_protocols: list[tuple[type, str, object]] = []  # Note [keyed model protocols] in fastinit.keyed
_thread = threading.local()  # .depth, .mode: this thread's RandomFills


def _stand_in(function: types.FunctionType) -> types.FunctionType:
    """A copy of `function` with its own identity."""
    copy = types.FunctionType(
        function.__code__, function.__globals__, function.__name__, function.__defaults__, function.__closure__
    )
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__doc__ = function.__doc__
    copy.__qualname__ = function.__qualname__
    copy.__module__ = function.__module__
    copy.__annotations__ = function.__annotations__
    return copy


def _swap_everywhere(replacements: dict[int, object], originals: list, record: bool) -> None:
    """Replace each of `originals` by replacements[id(original)] in every
    loaded module's namespace but fastinit's own, and the small dicts in it
    (Note [finding holders] in csrc/python/holders.cpp)."""
    for namespace, key, value in find_holders(sys.modules, "fastinit", originals, _MAX_TABLE_SIZE):
        if record:
            _swapped.append((namespace, key, value))
        namespace[key] = replacements[id(value)]


def patch() -> None:
    """Swap fastinit's initializers in for torch's and the libraries', and
    catch this thread's other random fills (nests with unpatch()). All or
    nothing: if anything fails on the way, what was swapped is put back
    and the exception propagates with nothing patched by this call."""
    global _depth
    _enter_random_fills()
    try:
        with _lock:
            if _depth == 0:
                try:
                    _swap_in()
                except BaseException:
                    _restore()
                    raise
            _depth += 1
    except BaseException:
        _exit_random_fills()
        raise


def _swap_in() -> None:
    replacements, originals = {}, []
    for original, ours in _TORCH_EQUIVALENTS + loaded_equivalents():
        stand_in = _stand_in(ours)
        replacements[id(original)] = stand_in
        originals.append(original)
        _stand_ins[id(stand_in)] = (stand_in, original)
    _swap_everywhere(replacements, originals, record=True)
    wrap_protocols(_wrapped_protocols)


def _restore() -> None:
    """Put back everything _swap_in() swapped, as far as it got."""
    for namespace, key, torch_function in reversed(_swapped):
        namespace[key] = torch_function
    _swapped.clear()
    for owner, name, method in _wrapped_protocols:
        setattr(owner, name, method)
    _wrapped_protocols.clear()
    # Names captured while patched (modules imported inside patched()).
    _swap_everywhere({key: original for key, (_, original) in _stand_ins.items()},
                     [stand_in for stand_in, _ in _stand_ins.values()], record=False)
    _stand_ins.clear()


def _enter_random_fills() -> None:
    depth = getattr(_thread, "depth", 0)
    if depth == 0:
        _thread.mode = RandomFills()
        _thread.mode.__enter__()
    _thread.depth = depth + 1


def _exit_random_fills() -> None:
    depth = getattr(_thread, "depth", 0)
    if depth == 0:  # patch() was called on another thread
        return
    _thread.depth = depth - 1
    if depth == 1:
        mode, _thread.mode = _thread.mode, None
        mode.__exit__(None, None, None)


def unpatch() -> None:
    """Undo one patch(); the last one restores every swapped attribute."""
    global _depth
    with _lock:
        if _depth == 0:
            raise RuntimeError("fastinit.unpatch() called without a matching patch()")
        _exit_random_fills()
        _depth -= 1
        if _depth == 0:
            _restore()


def is_patched() -> bool:
    return _depth > 0


@contextlib.contextmanager
def patched(defer_fills: bool = False, seeds: str = "in_order"):
    """Within the block, torch.nn.init, every library holding its functions
    and the libraries' own initializers run fastinit's, and so do this
    thread's tensor.normal_/uniform_ and float random factories; restored on
    exit, exception or not. Nests.

    With `defer_fills=True` the block's random fills of CPU tensors are
    deferred (Note [deferred fills] in fastinit.deferral): a fill that a
    later fill or zeroing overwrites before anything reads it is skipped, as
    is one whose tensor the block dropped (the untied lm_head of a
    transformers model), and what is left is written when something reads
    it or, batched, on exit. Every tensor's bits and the generator's state
    are those of running each fill as called. Meant for blocks that build or
    re-initialize models: another thread, or C++ code given a tensor outside
    the dispatcher, would see memory not yet written while the block runs
    (a forked process does not: pending fills are written before a fork).

    `seeds`: "in_order" (default) draws one seed per fill, as torch.nn.init
    does. "by_name" also runs the model protocols that know their model
    (transformers' `initialize_weights`: `init_weights`, and the weights
    `from_pretrained` initializes because the checkpoint lacks them) in a
    keyed block of that model (Note [keyed model protocols] in
    fastinit.keyed), so they get the values `materialize` gives the same
    names from the same generator state; fills outside such a protocol
    (a module's reset_parameters while it is built) keep one draw each.
    """
    if seeds not in SEED_CHOICES:
        raise ValueError(f"fastinit.patched: seeds must be 'in_order' or 'by_name', got {seeds!r}")
    patch()
    try:
        with (DeferredFills() if defer_fills else contextlib.nullcontext(),
              keying_protocols() if seeds == "by_name" else contextlib.nullcontext()):
            yield
    finally:
        unpatch()
