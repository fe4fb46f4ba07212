"""The custom initializer of d2l.ai ("Parameter Initialization"), two ways:

    w ~ U(5, 10) with probability 1/4, 0 with probability 1/2, U(-10, -5) with probability 1/4

Stock: three passes and a mask tensor. fastinit: one fused pass.
Run: python examples/d2l_mixture.py
"""

import torch

import fastinit
from fastinit import Constant, Mixture, Uniform
from fastinit.bench.report import median_seconds

D2L = Mixture([(0.25, Uniform(5, 10)), (0.5, Constant(0.0)), (0.25, Uniform(-10, -5))])


def stock_recipe(w):
    torch.nn.init.uniform_(w, -10, 10)
    w *= w.abs() >= 5


if __name__ == "__main__":
    w = torch.empty(8192, 8192)
    fill = median_seconds(lambda: w.fill_(1.0))
    stock = median_seconds(lambda: stock_recipe(w))
    fused = median_seconds(lambda: fastinit.mixture_(w, D2L))
    gb = w.numel() * 4 / 1e9
    print(f"64 Mi float32, {torch.get_num_threads()} threads, median of 5")
    print(f"fill_(1.0):        {fill * 1e3:7.1f} ms  {gb / fill:5.1f} GB/s")
    print(f"stock recipe:      {stock * 1e3:7.1f} ms  {gb / stock:5.2f} GB/s")
    print(f"fastinit.mixture_: {fused * 1e3:7.1f} ms  {gb / fused:5.2f} GB/s  "
          f"({stock / fused:.1f}x the stock recipe, {fill / fused:.2f} of fill_)")
    print(f"zeros: {(w == 0).float().mean():.3f} (expected 0.5)")
