"""fastinit: torch.nn.init as fused, parallel C++/CUDA kernels.

Every function of `torch.nn.init` is available here and in `fastinit.init`
with the same signature and behaviour; values follow torch's distributions
from a counter-based Philox stream (Note [fastinit RNG contract]). On top:
initializer specs and fused mixtures (`specs`), batched orthogonal matrices,
whole-model `reset_parameters`/`materialize`, and `patched()` for unmodified
model code.
"""

from . import init, specs
from ._ops import STREAM_VERSION
from .batched import batched_orthogonal_
from .init import *  # noqa: F401,F403
from .init import __all__ as _init_all
from .init import _calculate_fan_in_and_fan_out  # noqa: F401
from .keyed import keyed_by_name
from .model import materialize, reset_parameters
from .patching import is_patched, patch, patched, unpatch
from .specs import *  # noqa: F401,F403
from .specs import __all__ as _specs_all

__version__ = "0.1.0"
__all__ = list(_init_all) + list(_specs_all) + [
    "batched_orthogonal_",
    "reset_parameters",
    "materialize",
    "keyed_by_name",
    "patch",
    "unpatch",
    "patched",
    "is_patched",
    "STREAM_VERSION",
]
