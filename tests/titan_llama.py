"""A small Llama-style model that follows torchtitan's initialization
contract: built on the meta device, then `to_empty(device=...)`, then
`init_weights(buffer_device=...)`, which recomputes the rotary table and
draws every weight with a depth-scaled truncated normal (std 0.02 for the
embeddings and the first projections, 0.02 / sqrt(2 (layer + 1)) for the
output projections), as torchtitan's Llama does. Pipeline stages are built
as torchtitan builds them (`stage_model`): a copy of the whole meta model
with the other stages' layers deleted (the rest keep their names) and the
embedding, final norm and output set to None outside the first and last
stage; `init_weights` and `forward` skip what is None. Written for the
tests (torchtitan's own package needs more than this machine installs)."""

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


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


def rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """x (batch, sequence, heads, head_dim) turned by the rotary angles of
    its positions, pairs of features as complex numbers."""
    pairs = x.float().unflatten(-1, (-1, 2))
    cos, sin = angles.cos()[None, :, None, :], angles.sin()[None, :, None, :]
    real, imaginary = pairs[..., 0], pairs[..., 1]
    return torch.stack((real * cos - imaginary * sin, real * sin + imaginary * cos), dim=-1).flatten(-2).type_as(x)


class Attention(nn.Module):
    def __init__(self, args: TitanArgs):
        super().__init__()
        self.heads = args.n_heads
        self.wq = nn.Linear(args.dim, args.dim, bias=False)
        self.wk = nn.Linear(args.dim, args.dim, bias=False)
        self.wv = nn.Linear(args.dim, args.dim, bias=False)
        self.wo = nn.Linear(args.dim, args.dim, bias=False)

    def init_weights(self, init_std: float):
        for linear in (self.wq, self.wk, self.wv):
            nn.init.trunc_normal_(linear.weight, mean=0.0, std=0.02)
        nn.init.trunc_normal_(self.wo.weight, mean=0.0, std=init_std)

    def forward(self, x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        batch, sequence, _ = x.shape
        q, k, v = (w(x).view(batch, sequence, self.heads, -1) for w in (self.wq, self.wk, self.wv))
        q, k = rotate(q, angles[:sequence]), rotate(k, angles[:sequence])
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        return self.wo(out.transpose(1, 2).reshape(batch, sequence, -1))


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


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

    def forward(self, x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x), angles)
        return h + self.feed_forward(self.ffn_norm(h))


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
        if self.tok_embeddings is not None:
            nn.init.normal_(self.tok_embeddings.weight)
        for block in self.layers.values():
            block.init_weights()
        if self.norm is not None:
            self.norm.reset_parameters()
        if self.output is not None:
            cutoff = 3 * self.args.dim ** -0.5
            nn.init.trunc_normal_(self.output.weight, mean=0.0, std=self.args.dim ** -0.5, a=-cutoff, b=cutoff)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.tok_embeddings(tokens) if self.tok_embeddings is not None else tokens
        for block in self.layers.values():
            h = block(h, self.freqs)
        h = self.norm(h) if self.norm is not None else h
        return self.output(h) if self.output is not None else h


def stage_model(whole: TitanLlama, stage: int, stages: int) -> TitanLlama:
    """Pipeline stage `stage` of `stages` (layers split evenly, in order),
    built from the whole meta model as torchtitan builds it."""
    model = copy.deepcopy(whole)
    names = list(model.layers.keys())
    per_stage = len(names) // stages
    keep = set(names[stage * per_stage:(stage + 1) * per_stage])
    for name in names:
        if name not in keep:
            del model.layers[name]
    if stage > 0:
        model.tok_embeddings = None
    if stage < stages - 1:
        model.norm = None
        model.output = None
    return model
