"""The built-in rules: for each torch.nn module type, the distributions its
own reset_parameters draws, as fastinit specs (resolved against the module's
tensors), so that whole models are filled by batched op calls instead of
module by module."""

import math
from collections.abc import Callable

import torch
from torch import nn

from .fans import kaiming_std
from .specs import Call, Constant, Init, Normal, Uniform, XavierNormal, XavierUniform

_SQRT5 = math.sqrt(5)


def _linear_or_conv(m):
    # kaiming_uniform_(weight, a=sqrt(5)) and the bias bound 1/sqrt(fan_in),
    # with kaiming_uniform_'s arithmetic (fastinit.fans), resolved here.
    shape = m.weight.shape
    fan_in = shape[1] * math.prod(shape[2:])
    if fan_in == 0:  # kaiming_uniform_ leaves zero-element weights alone
        rules = {}
    else:
        bound = math.sqrt(3.0) * kaiming_std(shape, _SQRT5, "fan_in", "leaky_relu")
        rules = {"weight": Uniform(-bound, bound)}
    if m.bias is not None:
        bias_bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        rules["bias"] = Uniform(-bias_bound, bias_bound)
    return rules


def _bilinear(m):
    bound = 1 / math.sqrt(m.weight.size(1))
    return {name: Uniform(-bound, bound) for name in ("weight", "bias") if getattr(m, name) is not None}


def _embedding(m):
    if m.padding_idx is None:
        return {"weight": Normal(0.0, 1.0)}

    padding_idx = m.padding_idx  # not the module: plans are cached (Note [cached plans])

    def normal_then_zero_padding(weight, generator):
        from . import init

        init.normal_(weight, generator=generator)
        with torch.no_grad():
            weight[padding_idx].fill_(0)

    return {"weight": Call(normal_then_zero_padding)}


def _affine_norm(m):
    return {name: Constant(1.0 if name == "weight" else 0.0) for name in ("weight", "bias") if getattr(m, name, None) is not None}


def _batch_norm(m):
    rules = _affine_norm(m)
    if m.track_running_stats and m.running_mean is not None:
        rules.update(running_mean=Constant(0.0), running_var=Constant(1.0), num_batches_tracked=Constant(0))
    return rules


def _multihead_attention(m):
    rules = {}
    if m._qkv_same_embed_dim:
        rules["in_proj_weight"] = XavierUniform()
    else:
        rules.update(q_proj_weight=XavierUniform(), k_proj_weight=XavierUniform(), v_proj_weight=XavierUniform())
    if m.in_proj_bias is not None:
        rules["in_proj_bias"] = Constant(0.0)
        rules["out_proj.bias"] = Constant(0.0)
    if m.bias_k is not None:
        rules["bias_k"] = XavierNormal()
    if m.bias_v is not None:
        rules["bias_v"] = XavierNormal()
    return rules


def _recurrent(m):
    stdv = 1.0 / math.sqrt(m.hidden_size) if m.hidden_size > 0 else 0
    return {name: Uniform(-stdv, stdv) for name, _ in m.named_parameters(recurse=False)}


def _prelu(m):
    return {"weight": Constant(m.init)}


def _transformer(m):
    # nn.Transformer re-initializes every matrix with Xavier after building.
    return {name: XavierUniform() for name, p in m.named_parameters() if p.dim() > 1}


_TORCH_NN_RULES: dict[type, Callable] = {
    nn.Linear: _linear_or_conv,
    nn.modules.conv._ConvNd: _linear_or_conv,
    nn.Bilinear: _bilinear,
    nn.Embedding: _embedding,
    nn.EmbeddingBag: _embedding,
    nn.LayerNorm: _affine_norm,
    nn.GroupNorm: _affine_norm,
    nn.RMSNorm: _affine_norm,
    nn.modules.batchnorm._NormBase: _batch_norm,
    nn.MultiheadAttention: _multihead_attention,
    nn.RNNBase: _recurrent,
    nn.RNNCellBase: _recurrent,
    nn.PReLU: _prelu,
    nn.Transformer: _transformer,
}


_RULE_OF_TYPE: dict[type, Callable | None] = {}


def builtin_rules(module: nn.Module) -> dict[str, Init] | None:
    cls = type(module)
    try:
        rule = _RULE_OF_TYPE[cls]
    except KeyError:
        rule = next((r for t, r in _TORCH_NN_RULES.items() if issubclass(cls, t)), None)
        _RULE_OF_TYPE[cls] = rule
    return rule(module) if rule is not None else None
