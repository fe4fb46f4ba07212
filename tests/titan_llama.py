"""A small Llama-style model that follows torchtitan's initialization
contract: built on the meta device, then `to_empty(device=...)`, then
`init_weights(buffer_device=...)`, which recomputes the rotary table and
draws every weight with a depth-scaled truncated normal (std 0.02 for the
embeddings and the first projections, 0.02 / sqrt(2 (layer + 1)) for the
output projections), as torchtitan's Llama does. Written for the tests
(torchtitan's own package needs more than this machine installs)."""

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class TitanArgs:
    dim: int = 64
    n_layers: int = 2
    n_heads: int = 4
    vocab_size: int = 256
    hidden: int = 128
    max_seq_len: int = 32
    rope_theta: float = 10000.0


def rotary_table(args: TitanArgs, device=None) -> torch.Tensor:
    head_dim = args.dim // args.n_heads
    freqs = 1.0 / (args.rope_theta ** (torch.arange(0, head_dim, 2, device=device).float() / head_dim))
    positions = torch.arange(args.max_seq_len, device=device).float()
    return torch.outer(positions, freqs)


class Attention(nn.Module):
    def __init__(self, args: TitanArgs):
        super().__init__()
        self.wq = nn.Linear(args.dim, args.dim, bias=False)
        self.wk = nn.Linear(args.dim, args.dim, bias=False)
        self.wv = nn.Linear(args.dim, args.dim, bias=False)
        self.wo = nn.Linear(args.dim, args.dim, bias=False)

    def init_weights(self, init_std: float):
        for linear in (self.wq, self.wk, self.wv):
            nn.init.trunc_normal_(linear.weight, mean=0.0, std=0.02)
        nn.init.trunc_normal_(self.wo.weight, mean=0.0, std=init_std)


class FeedForward(nn.Module):
    def __init__(self, args: TitanArgs):
        super().__init__()
        self.w1 = nn.Linear(args.dim, args.hidden, bias=False)
        self.w2 = nn.Linear(args.hidden, args.dim, bias=False)
        self.w3 = nn.Linear(args.dim, args.hidden, bias=False)

    def init_weights(self, init_std: float):
        nn.init.trunc_normal_(self.w1.weight, mean=0.0, std=0.02)
        for linear in (self.w2, self.w3):
            nn.init.trunc_normal_(linear.weight, mean=0.0, std=init_std)


class Block(nn.Module):
    def __init__(self, layer: int, args: TitanArgs):
        super().__init__()
        self.attention = Attention(args)
        self.feed_forward = FeedForward(args)
        self.attention_norm = nn.RMSNorm(args.dim)
        self.ffn_norm = nn.RMSNorm(args.dim)
        self.init_std = 0.02 / (2 * (layer + 1)) ** 0.5

    def init_weights(self):
        for norm in (self.attention_norm, self.ffn_norm):
            norm.reset_parameters()
        self.attention.init_weights(self.init_std)
        self.feed_forward.init_weights(self.init_std)


class TitanLlama(nn.Module):
    def __init__(self, args: TitanArgs):
        super().__init__()
        self.args = args
        self.tok_embeddings = nn.Embedding(args.vocab_size, args.dim)
        self.register_buffer("freqs", rotary_table(args), persistent=False)
        self.layers = nn.ModuleDict({str(i): Block(i, args) for i in range(args.n_layers)})
        self.norm = nn.RMSNorm(args.dim)
        self.output = nn.Linear(args.dim, args.vocab_size, bias=False)

    def init_weights(self, buffer_device: torch.device | None = None):
        buffer_device = buffer_device or self.freqs.device
        with torch.device(buffer_device):
            self.freqs = rotary_table(self.args)
        nn.init.normal_(self.tok_embeddings.weight)
        for block in self.layers.values():
            block.init_weights()
        self.norm.reset_parameters()
        cutoff = 3 * self.args.dim ** -0.5
        nn.init.trunc_normal_(self.output.weight, mean=0.0, std=self.args.dim ** -0.5, a=-cutoff, b=cutoff)
