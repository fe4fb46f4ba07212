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



def allocate_and_zero(nbytes: int, populate: bool | None = None) -> torch.Tensor:
    """The floor of building a model of `nbytes` on the CPU: the one flat
    allocation materialize makes, then zero_(), which faults its pages in;
    with `populate`, pages the kernel populated first (fastinit.allocation).
    Which is faster depends on the host (Note [populated allocations] in
    csrc/python/allocation.cpp)."""
    from fastinit.allocation import allocate

    return allocate(nbytes, torch.device("cpu"), populate).zero_()


# Real model shapes from the libraries large models come from, built from
# configs (no weights downloaded). name -> (library, builder(small) -> model);
# `small` gives a tiny model of the same code, for smoke tests.
def _llama_3_2_3b(small: bool):
    import transformers

    if small:
        config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                          num_attention_heads=4, num_key_value_heads=2, vocab_size=512,
                                          tie_word_embeddings=True)
    else:  # Llama-3.2-3B's published shape: 3.21 B parameters
        config = transformers.LlamaConfig(
            hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
            num_key_value_heads=8, vocab_size=128256, max_position_embeddings=131072, rope_theta=500000.0,
            tie_word_embeddings=True,
            rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 8192})
    return transformers.LlamaForCausalLM(config)


def _bert_base(small: bool):
    import transformers

    config = transformers.BertConfig() if not small else transformers.BertConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=512)
    return transformers.BertModel(config)


def _t5_base(small: bool):
    import transformers

    config = transformers.T5Config(d_model=768, d_ff=3072, d_kv=64, num_layers=12, num_heads=12, vocab_size=32128,
                                   decoder_start_token_id=0) if not small else transformers.T5Config(
        d_model=64, d_ff=128, d_kv=16, num_layers=2, num_heads=4, vocab_size=512, decoder_start_token_id=0)
    return transformers.T5ForConditionalGeneration(config)


def _timm(name: str, **small_kwargs):
    def build(small: bool):
        import timm

        return timm.create_model(name, pretrained=False, **(small_kwargs if small else {}))

    return build


def materialize_rules(name: str) -> dict | None:
    """The rules `materialize` needs for a model without an init protocol:
    timm's ConvNeXt initializes in __init__ (its module-level _init_weights:
    convolutions and linears from a truncated normal of std 0.02 with zero
    biases; layer scales gamma = 1e-6), which these rules restate."""
    if name != "convnext_base":
        return None
    import fastinit

    weights = {"weight": fastinit.TruncNormal(std=0.02), "bias": fastinit.Constant(0.0)}
    return {nn.Conv2d: weights, nn.Linear: weights, "*.gamma": fastinit.Constant(1e-6)}


REAL_MODELS = {
    "llama-3.2-3b": ("transformers", _llama_3_2_3b),
    "vit_large_patch16_224": ("timm", _timm("vit_large_patch16_224", img_size=32, patch_size=8, depth=2,
                                            embed_dim=64, num_heads=2)),
    "convnext_base": ("timm", _timm("convnext_base", depths=(1, 1, 1, 1), dims=(16, 32, 64, 128))),
    "bert-base": ("transformers", _bert_base),
    "t5-base": ("transformers", _t5_base),
}


def real_model(name: str, small: bool = False, device=None) -> nn.Module:
    """REAL_MODELS[name] built on `device` (the current default when None)."""
    _, build = REAL_MODELS[name]
    with torch.device(device) if device is not None else contextlib.nullcontext():
        return build(small)


def library_available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(REAL_MODELS[name][0]) is not None
