"""Which ops reach the dispatcher while a model is built: the proof that a
build under patched() runs no stock random op."""

from torch.utils._python_dispatch import TorchDispatchMode

import fastinit

# aten ops that draw random numbers (erfinv_ is timm's inverse-CDF step).
RANDOM_ATEN = {"uniform_", "normal_", "random_", "bernoulli_", "exponential_", "log_normal_", "cauchy_",
               "geometric_", "randn", "rand", "randint", "randperm", "normal", "bernoulli", "erfinv_",
               "randn_like", "rand_like"}


class OpLog(TorchDispatchMode):
    """Records the name of every op that reaches the dispatcher."""

    def __init__(self):
        super().__init__()
        self.names = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(func._schema.name)
        return func(*args, **(kwargs or {}))


def stock_random_ops(names: list[str]) -> list[str]:
    return [n for n in names if n.startswith("aten::") and n.split("::")[1].split(".")[0] in RANDOM_ATEN]


def random_ops_while_building(build):
    """(stock random ops, fastinit ops, the result of build()) for build()
    run under patched()."""
    with fastinit.patched(), OpLog() as log:
        result = build()
    return stock_random_ops(log.names), [n for n in log.names if n.startswith("fastinit::")], result
