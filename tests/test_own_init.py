"""materialize() of models that bring their own initialization protocol
(transformers' init_weights(), torchtitan-style init_weights(buffer_device=),
timm's init_weights()): one flat allocation, then the model's own init on
fastinit's kernels; per tensor stock's distribution, buffers equal to
stock's, tied weights tied, reproducible from generator= and
torch.manual_seed."""

import pytest
import torch
from torch import nn

import fastinit
from conftest import assert_bitwise_equal
from dispatch_log import OpLog, stock_random_ops
from model_compare import assert_like_stock, named_tensors
from titan_llama import TitanArgs, TitanLlama


def _transformers():
    return pytest.importorskip("transformers")


def _llama():
    t = _transformers()
    return t.LlamaForCausalLM(t.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                            num_attention_heads=4, num_key_value_heads=2, vocab_size=500,
                                            max_position_embeddings=64, tie_word_embeddings=True))


def _gpt2():
    t = _transformers()
    return t.GPT2LMHeadModel(t.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=500, n_positions=64))


def _bert():
    t = _transformers()
    return t.BertModel(t.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                                    vocab_size=500, max_position_embeddings=64))


def _t5():
    t = _transformers()
    return t.T5ForConditionalGeneration(t.T5Config(d_model=64, d_ff=128, d_kv=16, num_layers=2, num_heads=4,
                                                   vocab_size=500, decoder_start_token_id=0))


def _timm_vit():
    timm = pytest.importorskip("timm")
    return timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=2,
                             num_classes=10)


def _titan():
    """Stock torchtitan flow on a real device: build, then init_weights()
    (its __init__ leaves torch's defaults)."""
    model = TitanLlama(TitanArgs())
    model.init_weights()
    return model


MODELS = {"transformers-llama": _llama, "transformers-gpt2": _gpt2, "transformers-bert": _bert,
          "transformers-t5": _t5, "timm-vit": _timm_vit, "titan-llama": _titan}


def _on_meta(build):
    with torch.device("meta"):
        return build()


def _tied_pairs(model):
    """Names of parameters that share one tensor."""
    by_id = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        by_id.setdefault(id(p), []).append(name)
    return sorted(tuple(names) for names in by_id.values() if len(names) > 1)


@pytest.mark.parametrize("name", MODELS)
def test_materialize_runs_the_models_own_init_like_stock(name):
    build = MODELS[name]
    model = _on_meta(build)
    torch.manual_seed(3)
    with OpLog() as log:
        fastinit.materialize(model)
    assert stock_random_ops(log.names) == [], f"stock random ops {sorted(set(stock_random_ops(log.names)))}"
    assert any(n.startswith("fastinit::") for n in log.names)
    assert not any(t.is_meta for t in named_tensors(model).values())
    assert _tied_pairs(model) == _tied_pairs(build())
    assert_like_stock(build, named_tensors(model), name)


@pytest.mark.parametrize("name", ["transformers-llama", "titan-llama"])
def test_rotary_buffers_equal_stocks(name):
    model = _on_meta(MODELS[name])
    fastinit.materialize(model)
    stock = MODELS[name]()
    ours, theirs = dict(model.named_buffers()), dict(stock.named_buffers())
    assert ours.keys() == theirs.keys() and ours
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), key


def test_tied_weights_share_the_flat_allocation():
    model = _on_meta(_llama)
    fastinit.materialize(model)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    assert len(storages) == 1, "one flat allocation"


@pytest.mark.parametrize("name", ["transformers-llama", "titan-llama", "timm-vit"])
def test_reproducible_from_generator_and_manual_seed(name):
    results = []
    for _ in range(2):
        model = _on_meta(MODELS[name])
        fastinit.materialize(model, generator=torch.Generator().manual_seed(9))
        results.append(named_tensors(model))
    for _ in range(2):
        model = _on_meta(MODELS[name])
        torch.manual_seed(9)
        fastinit.materialize(model)
        results.append(named_tensors(model))
    for other in results[1:]:
        for key, tensor in results[0].items():
            assert_bitwise_equal(other[key], tensor)


def test_rules_refuse_what_only_the_protocol_covers():
    model = _on_meta(_llama)
    with pytest.raises(ValueError, match=r"no rule fills .*input_layernorm.weight \(LlamaRMSNorm\)"):
        fastinit.materialize(model, init="rules")
    assert all(p.is_meta for p in model.parameters()), "nothing allocated"


def test_rules_choice_uses_the_built_in_rules():
    model = _on_meta(_titan)
    fastinit.materialize(model, init="rules", rules={"freqs": fastinit.Constant(0.0)})
    bound = 1 / 64 ** 0.5
    assert model.output.weight.abs().max() <= bound and model.output.weight.abs().max() > 0.9 * bound  # Linear's own
    assert torch.all(model.freqs == 0)


def test_rules_given_with_the_protocol_win():
    model = _on_meta(_titan)
    fastinit.materialize(model, rules={"output.weight": fastinit.Constant(0.5), nn.RMSNorm: fastinit.Constant(2.0)})
    assert torch.all(model.output.weight == 0.5) and torch.all(model.norm.weight == 2.0)
    assert model.tok_embeddings.weight.std() > 0.9  # still the protocol's normal_


def test_init_choice_errors():
    with pytest.raises(ValueError, match="init must be one of"):
        fastinit.materialize(_on_meta(_titan), init="both")
    with pytest.raises(ValueError, match="has no init_weights"):
        fastinit.materialize(_on_meta(lambda: nn.Sequential(nn.Linear(4, 4))), init="model")


def test_models_without_a_protocol_keep_the_rules():
    model = _on_meta(lambda: nn.Sequential(nn.Linear(64, 64), nn.LayerNorm(64)))
    fastinit.materialize(model, generator=torch.Generator().manual_seed(1))
    reference = nn.Sequential(nn.Linear(64, 64), nn.LayerNorm(64))
    fastinit.reset_parameters(reference, generator=torch.Generator().manual_seed(1))
    for a, b in zip(model.parameters(), reference.parameters()):
        assert_bitwise_equal(a.detach(), b.detach())


def test_timm_convnext_has_no_protocol_and_its_rules_restate_timms_init():
    timm = pytest.importorskip("timm")
    from fastinit.bench.models import materialize_rules

    def build():
        return timm.create_model("convnext_base", pretrained=False, depths=(1, 1, 1, 1), dims=(16, 32, 64, 128))

    with pytest.raises(ValueError, match=r"no rule fills stages\.0\.blocks\.0\.gamma \(ConvNeXtBlock\)"):
        fastinit.materialize(_on_meta(build))
    model = _on_meta(build)
    torch.manual_seed(4)
    fastinit.materialize(model, rules=materialize_rules("convnext_base"))
    assert_like_stock(build, named_tensors(model), "timm-convnext")
