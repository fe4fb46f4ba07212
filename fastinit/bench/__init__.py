"""The benchmark suite (`python -m fastinit.bench`, `fastinit-bench`)."""

from .report import main

__all__ = ["main"]
