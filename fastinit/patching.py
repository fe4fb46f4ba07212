"""patch(), unpatch() and patched(): run unmodified model code on fastinit.

Libraries call torch's initializers three ways: as attributes of
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
to fastinit.init's own functions are left alone.
"""

import contextlib
import sys
import threading
import types

import torch.nn.init as _torch_init

from . import init as _fast_init

_TORCH_FUNCTIONS = {name: getattr(_torch_init, name) for name in _torch_init.__all__}
_MAX_TABLE_SIZE = 256  # dicts scanned for captured initializers

_lock = threading.RLock()
_depth = 0
_swapped: list[tuple[dict, object, object]] = []  # (namespace, key, torch's function)
_stand_ins: dict[int, object] = {}  # id(stand-in) -> torch's function


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


def _namespaces():
    """Every loaded module's namespace and the small dicts inside it."""
    for name, module in list(sys.modules.items()):
        if module is None or name == "fastinit" or name.startswith("fastinit."):
            continue
        try:
            namespace = vars(module)
        except TypeError:
            continue
        yield namespace
        for value in list(namespace.values()):
            if type(value) is dict and len(value) <= _MAX_TABLE_SIZE:
                yield value


def _swap_everywhere(replacements: dict[int, object], record: bool) -> None:
    for namespace in _namespaces():
        for key, value in list(namespace.items()):
            replacement = replacements.get(id(value))
            if replacement is not None:
                if record:
                    _swapped.append((namespace, key, value))
                namespace[key] = replacement


def patch() -> None:
    """Swap fastinit's initializers in for torch's (nests with unpatch())."""
    global _depth
    with _lock:
        _depth += 1
        if _depth > 1:
            return
        replacements = {}
        for name, torch_function in _TORCH_FUNCTIONS.items():
            stand_in = _stand_in(getattr(_fast_init, name))
            replacements[id(torch_function)] = stand_in
            _stand_ins[id(stand_in)] = torch_function
        _swap_everywhere(replacements, record=True)


def unpatch() -> None:
    """Undo one patch(); the last one restores every swapped attribute."""
    global _depth
    with _lock:
        if _depth == 0:
            raise RuntimeError("fastinit.unpatch() called without a matching patch()")
        _depth -= 1
        if _depth > 0:
            return
        for namespace, key, torch_function in reversed(_swapped):
            namespace[key] = torch_function
        _swapped.clear()
        # Names captured while patched (modules imported inside patched()).
        _swap_everywhere(dict(_stand_ins), record=False)
        _stand_ins.clear()


def is_patched() -> bool:
    return _depth > 0


@contextlib.contextmanager
def patched():
    """Within the block, torch.nn.init and every library holding its
    functions run fastinit's initializers; restored on exit, exception or
    not. Nests."""
    patch()
    try:
        yield
    finally:
        unpatch()
