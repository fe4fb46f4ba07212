"""Models for the benchmarks."""

import contextlib

import torch
from torch import nn


def gpt2_like(layers: int = 48, width: int = 1600, vocab: int = 50257, device=None) -> nn.Module:
    """A GPT-2-shaped parameter stack (48 x 1600 is GPT-2 XL, 1.56 B
    parameters): per block Linear(w, 3w), Linear(w, w), Linear(w, 4w),
    Linear(4w, w) and two LayerNorm(w), plus Embedding(vocab, w)."""
    with torch.device(device) if device is not None else contextlib.nullcontext():
        blocks = []
        for _ in range(layers):
            blocks += [nn.LayerNorm(width), nn.Linear(width, 3 * width), nn.Linear(width, width),
                       nn.LayerNorm(width), nn.Linear(width, 4 * width), nn.Linear(4 * width, width)]
        return nn.Sequential(nn.Embedding(vocab, width), *blocks)

