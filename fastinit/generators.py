"""The generator `generator=None` means: the one using_generator() sets for
its block (reset_parameters and materialize run a module's own
reset_parameters under patched() with the generator they were given),
else torch's default CPU generator. The C++ entry points read the same
context variable (registered by fastinit._ops)."""

import contextlib
import contextvars

import torch

default_generator_variable: contextvars.ContextVar = contextvars.ContextVar("fastinit_generator", default=None)


@contextlib.contextmanager
def using_generator(generator: torch.Generator | None):
    """Within the block, fastinit's initializers called without a generator
    draw from `generator`."""
    token = default_generator_variable.set(generator)
    try:
        yield
    finally:
        default_generator_variable.reset(token)


# Dynamo traces ContextVar.get from torch 2.14 on. With older torch a
# compiled call takes generator=None as torch's default generator, ignoring
# using_generator() (which only reset_parameters/materialize set, around
# eager code).
_TRACES_CONTEXT_VARIABLES = tuple(int(part) for part in torch.__version__.split(".")[:2]) >= (2, 14)


def resolve_generator(generator: torch.Generator | None) -> torch.Generator | None:
    if generator is not None:
        return generator
    if not _TRACES_CONTEXT_VARIABLES and torch.compiler.is_compiling():
        return None
    return default_generator_variable.get()
