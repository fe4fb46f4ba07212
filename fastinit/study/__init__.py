"""The quality study (`python -m fastinit.study`): does a model initialized
by fastinit train like one initialized by torch.nn.init, and what does each
initialization scheme do to a network's signals?"""

from .report import main

__all__ = ["main"]
