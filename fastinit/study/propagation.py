"""Signal propagation at initialization: how the spread of activations
(forward) and of gradients (backward) changes from layer to layer under
each scheme.

A deep network is a stack of blocks, each a linear map (fully connected or
3×3 convolution), optionally BatchNorm, then a nonlinearity. One batch of
standard normal inputs goes forward; a standard normal gradient comes back
from the output. For each block the measurement keeps the standard
deviation of its output (forward) and of the gradient reaching that output
(backward).

Note [variance per layer]: for a linear block with zero bias and weights
of variance v, each output is a sum of fan_in products of independent
zero-mean terms, so Var(output) = fan_in · v · E[input²]; on the way back
Var(input gradient) = fan_out · v · Var(output gradient). Hence fan_in · v
= 1 keeps the forward signal (LeCun; Xavier's 2 / (fan_in + fan_out)
compromises between both directions) and a ReLU, which halves the second
moment, needs 2 / fan_in (Kaiming). Anything else grows or shrinks the
signal geometrically with depth; BatchNorm renormalizes each block's
output and so takes the forward direction out of the weights' hands.
tests/test_study.py checks the measurement against these rates.
"""

from dataclasses import dataclass

import torch
from torch import nn

from .training import build

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "linear": nn.Identity}


@dataclass(frozen=True)
class Network:
    """A deep stack: `kind` "mlp" (fully connected, width features) or
    "cnn" (3×3 convolutions, width channels on 16×16 images)."""

    kind: str
    activation: str
    batchnorm: bool
    depth: int = 30
    width: int = 256
    batch: int = 256

    @property
    def name(self) -> str:
        return f"{self.kind.upper()} {self.activation}{' + BatchNorm' if self.batchnorm else ''}"

    def build(self) -> nn.Sequential:
        blocks = []
        for _ in range(self.depth):
            if self.kind == "mlp":
                layers = [nn.Linear(self.width, self.width)]
                norm = nn.BatchNorm1d
            else:
                layers = [nn.Conv2d(self.width, self.width, 3, padding=1)]
                norm = nn.BatchNorm2d
            if self.batchnorm:
                layers.append(norm(self.width))
            layers.append(ACTIVATIONS[self.activation]())
            blocks.append(nn.Sequential(*layers))
        return nn.Sequential(*blocks)

    def inputs(self, generator: torch.Generator, device="cpu") -> torch.Tensor:
        shape = (self.batch, self.width) if self.kind == "mlp" else (self.batch, self.width, 16, 16)
        return torch.randn(shape, generator=generator).to(device)


NETWORKS = [
    Network("mlp", "tanh", False), Network("mlp", "tanh", True),
    Network("mlp", "relu", False), Network("mlp", "relu", True),
    Network("cnn", "relu", False, depth=20, width=32, batch=32),
    Network("cnn", "relu", True, depth=20, width=32, batch=32),
]


def spreads(model: nn.Sequential, inputs: torch.Tensor, generator: torch.Generator) -> dict:
    """Per block of `model`: the standard deviation of its output and of
    the gradient of a standard normal projection of the last output with
    respect to it. Non-finite values stay (an exploded signal)."""
    outputs = []

    def keep(block, block_inputs, output):
        output.retain_grad()
        outputs.append(output)

    hooks = [block.register_forward_hook(keep) for block in model]
    try:
        inputs = inputs.clone().requires_grad_(True)
        last = model(inputs)
        last.backward(torch.randn(last.shape, generator=generator).to(last.device))
    finally:
        for hook in hooks:
            hook.remove()
    return {"forward": [output.detach().double().std().item() for output in outputs],
            "backward": [output.grad.double().std().item() for output in outputs]}


def measure(network: Network, scheme: str, implementation_name: str, seed: int, device="cpu",
            initializer=None) -> dict:
    """The spreads of `network` initialized by `scheme` from
    `implementation_name` with `seed` (inputs and output gradient from the
    seed too, so stock and fastinit see the same ones)."""
    model = build(network.build, scheme, implementation_name, seed, device, initializer)
    data = torch.Generator().manual_seed(seed)
    return spreads(model, network.inputs(data, device), data)
