"""Name-keyed seeds (Note [name-keyed seeds] in fastinit/keyed.py): the
derivation as documented, one generator draw per block, order and subset
independence, fill counts, views, ties, prefixes, and distinct streams."""

import hashlib

import pytest
import torch
from torch import nn

import fastinit
import fastinit.init as fi
from conftest import assert_bitwise_equal
from fastinit._ops import draw_seeds
from fastinit.keyed import UNNAMED, NameKeys, name_keyed_seed


def _documented_seed(base: int, key: str, count: int) -> int:
    """Note [name-keyed seeds], written out again from its text."""
    def splitmix64_finalizer(z):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2 ** 64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2 ** 64
        return z ^ (z >> 31)

    digest = hashlib.blake2b(f"{key}#{count}".encode("utf-8"), digest_size=8).digest()
    return splitmix64_finalizer(int.from_bytes(digest, "little") ^ splitmix64_finalizer(base)) % 2 ** 63


def test_the_seed_is_the_documented_derivation():
    for base, key, count in [(0, "weight", 0), (2026, "layers.0.attention.wq.weight", 1), (2 ** 63 - 1, "é", 7)]:
        assert name_keyed_seed(base, key, count) == _documented_seed(base, key, count)
    # Known answers, pinned with STREAM_VERSION 2.
    assert name_keyed_seed(0, "weight", 0) == 0x3725D7BD7DCF6C56
    assert name_keyed_seed(2026, "layers.0.attention.wq.weight", 1) == 0x0BCAB8C5F3CF5EFB
    seeds = {name_keyed_seed(7, k, c) for k in ("a", "b", "a.b") for c in range(3)}
    assert len(seeds) == 9 and all(0 <= s < 1 << 63 for s in seeds)


def test_a_batch_of_seeds_equals_the_seeds_one_by_one():
    keys = NameKeys(nn.Linear(2, 2), base=99)
    names = [f"layers.{i}.weight" for i in range(100)] + ["layers.0.weight"] * 3  # past the vector threshold
    batch = keys.seeds_of_keys(names)
    counts = {}
    expected = []
    for name in names:
        expected.append(_documented_seed(99, name, counts.get(name, 0)))
        counts[name] = counts.get(name, 0) + 1
    assert batch == expected and keys.seeds_of_keys(names[1:4]) == [_documented_seed(99, n, 1) for n in names[1:4]]


def _blocks(order, width=8):
    with torch.device("meta"):
        model = nn.ModuleDict()
        for name in order:
            model[name] = nn.Sequential(nn.Linear(width, 2 * width), nn.LayerNorm(2 * width),
                                        nn.Embedding(11, width), nn.Linear(2 * width, 3))
    return model


def _assert_same_per_name(a: nn.Module, b: nn.Module, names=None):
    state_a, state_b = a.state_dict(), b.state_dict()
    for name in names or state_b:
        assert_bitwise_equal(state_a[name], state_b[name])


@pytest.mark.parametrize("init", ["rules", "model"])
def test_module_order_and_missing_modules_do_not_change_a_tensor(init):
    def build(order):
        model = _blocks(order)
        if init == "model":  # a protocol of its own: every weight normal, biases zero
            def init_weights():
                for name, parameter in model.named_parameters():
                    fi.normal_(parameter, 0.0, 0.02) if name.endswith("weight") else fi.zeros_(parameter)
            model.init_weights = init_weights
        torch.manual_seed(3)
        return fastinit.materialize(model, init=init)

    whole = build(["x", "y", "z"])
    _assert_same_per_name(whole, build(["z", "y", "x"]))
    _assert_same_per_name(whole, build(["z", "x"]))


def test_the_generator_advances_by_one_draw_whatever_the_model():
    for order in (["x"], ["x", "y", "z", "w"]):
        generator = torch.Generator().manual_seed(11)
        fastinit.materialize(_blocks(order), generator=generator)
        expected = torch.Generator().manual_seed(11)
        draw_seeds(expected, 1)
        assert torch.equal(generator.get_state(), expected.get_state())


def test_a_submodule_alone_lines_up_with_prefix():
    torch.manual_seed(5)
    whole = fastinit.materialize(_blocks(["x", "y"]))
    torch.manual_seed(5)
    alone = fastinit.materialize(_blocks(["y"])["y"], prefix="y")
    for name, tensor in alone.state_dict().items():
        assert_bitwise_equal(tensor, whole.state_dict()[f"y.{name}"])
    torch.manual_seed(5)
    unprefixed = fastinit.materialize(_blocks(["y"])["y"])
    assert not torch.equal(unprefixed[0].weight, alone[0].weight)


def test_reset_parameters_is_keyed_too():
    a, b = _blocks(["x", "y"]).to_empty(device="cpu"), _blocks(["y", "x"]).to_empty(device="cpu")
    for model in (a, b):
        fastinit.reset_parameters(model, generator=torch.Generator().manual_seed(9))
    _assert_same_per_name(a, b)


def test_a_second_fill_of_a_tensor_is_counted():
    weight = torch.empty(64, 64)
    holder = nn.Module()
    holder.weight = nn.Parameter(weight)
    with fastinit.keyed_by_name(holder, torch.Generator().manual_seed(0)) as keys:
        first = fi.normal_(holder.weight).detach().clone()
        second = fi.normal_(holder.weight).detach().clone()
    assert keys.counts["weight"] == 2 and not torch.equal(first, second)
    with fastinit.keyed_by_name(holder, torch.Generator().manual_seed(0)):
        fi.normal_(holder.weight)
        fi.normal_(holder.weight)
    assert_bitwise_equal(holder.weight.detach(), second)


def test_views_ties_and_temporaries_have_their_documented_keys():
    model = nn.Module()
    model.embedding = nn.Embedding(10, 4)
    model.head = nn.Linear(4, 10, bias=False)
    model.head.weight = model.embedding.weight  # tied: the first name holds
    keys = NameKeys(model, base=1)
    weight = model.embedding.weight
    assert keys.key_of(weight) == keys.key_of(model.head.weight) == "embedding.weight"
    assert keys.key_of(weight.data) == "embedding.weight"  # another object, the same memory
    assert keys.key_of(weight[2]) == "embedding.weight[8:(4,):(1,)]"
    assert keys.key_of(weight[:, 1]) == "embedding.weight[1:(10,):(4,)]"
    assert keys.key_of(torch.empty(3)) == UNNAMED


def test_a_fill_of_a_row_leaves_the_others_as_the_whole_fill_made_them():
    def protocol(model, padding_row_too):
        fi.normal_(model.embedding.weight)
        if padding_row_too:
            fi.normal_(model.embedding.weight[0])  # keyed as a view: the other rows keep their values

    results = []
    for padding_row_too in (False, True):
        model = nn.Module()
        model.embedding = nn.Embedding(10, 4)
        with fastinit.keyed_by_name(model, torch.Generator().manual_seed(2)):
            protocol(model, padding_row_too)
        results.append(model.embedding.weight.detach())
    assert_bitwise_equal(results[0][1:], results[1][1:])
    assert not torch.equal(results[0][0], results[1][0])


def test_no_two_tensors_of_a_model_share_a_stream():
    torch.manual_seed(0)
    with torch.device("meta"):
        model = nn.Sequential(*[nn.Linear(32, 32) for _ in range(300)])
    fastinit.materialize(model)
    # Every weight is U(-b, b) with the same b: equal streams would give
    # equal first values.
    firsts = {tuple(layer.weight.detach().flatten()[:4].tolist()) for layer in model}
    assert len(firsts) == len(model)


def test_in_order_is_the_single_calls_in_module_order():
    model = _blocks(["x", "y"]).to_empty(device="cpu")
    fastinit.reset_parameters(model, generator=torch.Generator().manual_seed(4), seeds="in_order")
    reference = _blocks(["x", "y"]).to_empty(device="cpu")
    generator = torch.Generator().manual_seed(4)
    for module in reference.modules():
        if isinstance(module, nn.Linear):
            fi.kaiming_uniform_(module.weight, a=5 ** 0.5, generator=generator)
            bound = 1 / module.in_features ** 0.5
            fi.uniform_(module.bias, -bound, bound, generator=generator)
        elif isinstance(module, nn.Embedding):
            fi.normal_(module.weight, generator=generator)
        elif isinstance(module, nn.LayerNorm):
            fi.ones_(module.weight)
            fi.zeros_(module.bias)
    _assert_same_per_name(model, reference)


@pytest.mark.parametrize("function", [fastinit.materialize, fastinit.reset_parameters])
def test_bad_seeding_arguments_name_the_function_and_value(function):
    model = _blocks(["x"])
    if function is fastinit.reset_parameters:
        model = model.to_empty(device="cpu")
    name = function.__name__
    with pytest.raises(ValueError, match=f"fastinit.{name}: seeds must be one of .*got 'random'"):
        function(model, seeds="random")
    with pytest.raises(ValueError, match=f"fastinit.{name}: prefix='x' names tensors"):
        function(model, seeds="in_order", prefix="x")
    assert all(t.is_meta for t in model.parameters()) or function is fastinit.reset_parameters


def _from_pretrained_and_whole(model_class, saved, config, **load):
    """(the model from_pretrained makes of `saved` under patched(seeds=
    "by_name"), the whole model materialized), both from torch.manual_seed(0)."""
    torch.manual_seed(0)
    with fastinit.patched(seeds="by_name"):
        loaded = model_class.from_pretrained(saved, **load)
    with torch.device("meta"):
        whole = model_class(config)
    torch.manual_seed(0)
    fastinit.materialize(whole)
    return loaded, whole


def test_from_pretrained_initializes_a_new_head_as_the_whole_model(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=64, vocab_size=100, num_labels=3)
    transformers.BertModel(config).save_pretrained(tmp_path)  # no classifier in the checkpoint
    loaded, whole = _from_pretrained_and_whole(transformers.BertForSequenceClassification, tmp_path, config)
    assert loaded.classifier.weight.std() > 0.01
    assert_bitwise_equal(loaded.classifier.weight.detach(), whole.classifier.weight.detach())
    assert_bitwise_equal(loaded.classifier.bias.detach(), whole.classifier.bias.detach())


def test_from_pretrained_initializes_a_resized_embedding_as_the_whole_model(tmp_path):
    transformers = pytest.importorskip("transformers")
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2)
    transformers.LlamaForCausalLM(transformers.LlamaConfig(vocab_size=100, **small)).save_pretrained(tmp_path)
    config = transformers.LlamaConfig(vocab_size=128, **small)
    loaded, whole = _from_pretrained_and_whole(transformers.LlamaForCausalLM, tmp_path, config, vocab_size=128,
                                               ignore_mismatched_sizes=True)
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        assert loaded.get_parameter(name).shape[0] == 128
        assert_bitwise_equal(loaded.get_parameter(name).detach(), whole.get_parameter(name).detach())
    # What the checkpoint held is loaded, not initialized.
    assert not torch.equal(loaded.model.layers[0].mlp.up_proj.weight, whole.model.layers[0].mlp.up_proj.weight)


def test_patched_refuses_an_unknown_seeding():
    with pytest.raises(ValueError, match="fastinit.patched: seeds must be 'in_order' or 'by_name', got 'names'"):
        with fastinit.patched(seeds="names"):
            pass
    assert not fastinit.is_patched()
