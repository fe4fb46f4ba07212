"""fastinit.checkpoint: random-init checkpoints written one file at a time
equal, bit for bit, what materialize gives in memory; transformers loads
them as it loads a Hub checkpoint; n processes write the files one process
writes; a killed run resumes; memory stays bounded; bad input is refused
before anything lands under a final name."""

import json
import os
import resource
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

import fastinit
from fastinit.checkpoint import checkpoint_layout, write_checkpoint
from fastinit.checkpoint.command import main
from fastinit.checkpoint.writing import INDEX_NAME, PARTIAL_DIR

safetensors_torch = pytest.importorskip("safetensors.torch")
pytest.importorskip("huggingface_hub")

TESTS = Path(__file__).parent


def _transformers():
    return pytest.importorskip("transformers")


def _llama_config(tied: bool):
    t = _transformers()
    return t.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=500, max_position_embeddings=64,
                         tie_word_embeddings=tied)


def _bert_config():
    t = _transformers()
    return t.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                        vocab_size=500, max_position_embeddings=64)


def _t5_config():
    t = _transformers()
    return t.T5Config(d_model=64, d_ff=128, d_kv=16, num_layers=2, num_heads=4, vocab_size=500,
                      decoder_start_token_id=0)


# name -> (model class name, config)
TRANSFORMERS_MODELS = {
    "llama-tied": ("LlamaForCausalLM", lambda: _llama_config(True)),
    "llama-untied": ("LlamaForCausalLM", lambda: _llama_config(False)),
    "bert": ("BertModel", _bert_config),
    "t5": ("T5ForConditionalGeneration", _t5_config),
}


def _on_meta(class_name: str, config, dtype: torch.dtype):
    model_class = getattr(_transformers(), class_name)
    with torch.device("meta"):
        return model_class._from_config(config, dtype=dtype)


def _materialized(build, seed: int, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return fastinit.materialize(build(), **kwargs)


def _assert_same_tensors(actual: dict, expected: dict) -> None:
    assert set(actual) <= set(expected), set(actual) - set(expected)
    for name, tensor in actual.items():
        reference = expected[name]
        assert tensor.dtype == reference.dtype and tensor.shape == reference.shape, name
        assert torch.equal(tensor.reshape(-1).view(torch.uint8), reference.reshape(-1).view(torch.uint8)), name


def _complete(path: Path) -> bool:
    """Whether a safetensors file holds every byte its header promises."""
    data = path.read_bytes()
    if len(data) < 8:
        return False
    (length,) = struct.unpack("<Q", data[:8])
    if len(data) < 8 + length:
        return False
    header = json.loads(data[8:8 + length])
    end = max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0)
    return len(data) == 8 + length + end


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def _command(*args, env=None, **kwargs):
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "fastinit.checkpoint", *map(str, args)], capture_output=True,
                          text=True, env=environment, timeout=600, **kwargs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("name", TRANSFORMERS_MODELS)
def test_transformers_loads_the_checkpoint_and_it_equals_materialize(name, dtype, tmp_path):
    class_name, config = TRANSFORMERS_MODELS[name]
    build = lambda: _on_meta(class_name, config(), dtype)  # noqa: E731
    result = write_checkpoint(build(), tmp_path / "out", seed=7, max_shard_size="40KB")
    assert result.index_written and len(result.written) > 1 and not result.missing

    model, info = getattr(_transformers(), class_name).from_pretrained(tmp_path / "out", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    expected = _materialized(build, 7)
    loaded = model.state_dict()
    assert set(loaded) == set(expected.state_dict())
    _assert_same_tensors(loaded, expected.state_dict())
    assert any(t.float().std() > 0 for t in loaded.values()), "a checkpoint of constants proves nothing"

    # Names, ties and files as save_pretrained writes them for the same values
    # in a model built as usual (materialize's views into one allocation, and
    # the loaded model's views into its files, look to huggingface_hub's
    # splitting like storage the tensors share).
    stock = getattr(_transformers(), class_name)._from_config(config(), dtype=dtype)
    stock.load_state_dict(expected.state_dict())
    stock.save_pretrained(tmp_path / "stock", max_shard_size="40KB")
    assert json.loads((tmp_path / "out" / INDEX_NAME).read_text()) == \
        json.loads((tmp_path / "stock" / INDEX_NAME).read_text())
    for file in (tmp_path / "stock").glob("*.safetensors"):
        _assert_same_tensors(safetensors_torch.load_file(tmp_path / "out" / file.name),
                             safetensors_torch.load_file(file))
    for side in ("config.json", "generation_config.json"):
        if (tmp_path / "stock" / side).exists():
            assert json.loads((tmp_path / "out" / side).read_text()) == \
                json.loads((tmp_path / "stock" / side).read_text()), side


def test_one_file_when_the_model_fits_in_one(tmp_path):
    build = lambda: _on_meta("LlamaForCausalLM", _llama_config(True), torch.float32)  # noqa: E731
    result = write_checkpoint(build(), tmp_path, seed=1)
    assert result.written == ["model.safetensors"] and result.index_written
    assert not (tmp_path / INDEX_NAME).exists()  # as save_pretrained: an index only for several files
    _assert_same_tensors(safetensors_torch.load_file(tmp_path / "model.safetensors"),
                         _materialized(build, 1).state_dict())


@pytest.mark.filterwarnings("ignore:torch.distributed is disabled")
def test_torch_distributed_checkpoint_loads_it(tmp_path):
    """DCP (what torchtitan loads) reads the checkpoint with its
    HuggingFaceStorageReader, in one process as on every rank."""
    import torch.distributed.checkpoint as dcp

    if not hasattr(dcp, "HuggingFaceStorageReader"):
        pytest.skip("this torch's DCP has no HuggingFaceStorageReader")
    build = lambda: _on_meta("LlamaForCausalLM", _llama_config(False), torch.bfloat16)  # noqa: E731
    write_checkpoint(build(), tmp_path, seed=2, max_shard_size="60KB")
    expected = _materialized(build, 2).state_dict()
    state = {name: torch.empty_like(tensor) for name, tensor in expected.items()}
    dcp.load(state, storage_reader=dcp.HuggingFaceStorageReader(str(tmp_path)))
    _assert_same_tensors(state, expected)


def test_rules_init_equals_materialize_with_rules(tmp_path):
    def build():
        with torch.device("meta"):
            return nn.Sequential(nn.Embedding(300, 32), nn.Linear(32, 64), nn.LayerNorm(64), nn.Linear(64, 8),
                                 nn.BatchNorm1d(8))

    rules = {"1.weight": fastinit.Normal(std=0.02)}
    write_checkpoint(build(), tmp_path, seed=5, init="rules", rules=rules, max_shard_size="20KB")
    expected = _materialized(build, 5, init="rules", rules=rules).state_dict()
    loaded = {}
    for file in tmp_path.glob("*.safetensors"):
        loaded.update(safetensors_torch.load_file(file))
    assert set(loaded) == set(expected)
    _assert_same_tensors(loaded, expected)


def test_the_command_writes_what_the_function_writes(tmp_path):
    transformers = _transformers()
    config = _llama_config(False)
    config.save_pretrained(tmp_path / "config")
    done = _command(tmp_path / "cli", "--transformers", tmp_path / "config" / "config.json",
                    "--class", "LlamaForCausalLM", "--dtype", "bfloat16", "--seed", 3, "--max-shard-size", "60KB")
    assert done.returncode == 0, done.stderr
    assert f"to {tmp_path / 'cli'}" in done.stdout and "the checkpoint is complete" in done.stdout

    model = _on_meta("LlamaForCausalLM", transformers.AutoConfig.from_pretrained(tmp_path / "config"),
                     torch.bfloat16)
    write_checkpoint(model, tmp_path / "api", seed=3, max_shard_size="60KB")
    assert _files(tmp_path / "cli") == _files(tmp_path / "api")


def test_timm_vit_through_a_module_function(tmp_path):
    pytest.importorskip("timm")
    import checkpoint_models

    done = _command(tmp_path, "--model", "checkpoint_models:vit_tiny", "--seed", 11, "--max-shard-size", "100KB")
    assert done.returncode == 0, done.stderr
    loaded = {}
    for file in tmp_path.glob("*.safetensors"):
        loaded.update(safetensors_torch.load_file(file))
    expected = _materialized(checkpoint_models.vit_tiny, 11).state_dict()
    assert set(loaded) == set(expected) and len(list(tmp_path.glob("*.safetensors"))) > 1
    _assert_same_tensors(loaded, expected)


@pytest.mark.parametrize("world", [2, 3])
def test_processes_of_a_world_write_the_files_of_one(world, tmp_path):
    _transformers()
    _t5_config().save_pretrained(tmp_path / "config")
    common = ["--transformers", tmp_path / "config", "--class", "T5ForConditionalGeneration", "--seed", 2,
              "--max-shard-size", "50KB"]
    alone = _command(tmp_path / "one", *common)
    assert alone.returncode == 0, alone.stderr
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    ranks = [subprocess.Popen([sys.executable, "-m", "fastinit.checkpoint", str(tmp_path / "many"),
                               *map(str, common), "--rank", str(rank), "--world", str(world)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
             for rank in range(world)]
    outputs = [rank.communicate(timeout=600) for rank in ranks]
    assert all(rank.returncode == 0 for rank in ranks), outputs
    assert any("the checkpoint is complete" in out for out, _ in outputs)
    assert _files(tmp_path / "many") == _files(tmp_path / "one")


def test_a_world_on_separate_machines_is_completed_by_resume(tmp_path):
    """Ranks that never see each other's files leave the index to a last
    run with --resume over the gathered files."""
    build = lambda: _on_meta("BertModel", _bert_config(), torch.float32)  # noqa: E731
    whole = write_checkpoint(build(), tmp_path / "whole", seed=4, max_shard_size="50KB")
    for rank in range(2):
        part = write_checkpoint(build(), tmp_path / f"machine{rank}", seed=4, max_shard_size="50KB",
                                rank=rank, world=2)
        assert part.missing and not part.index_written
        for file in part.written:
            (tmp_path / "gathered").mkdir(exist_ok=True)
            (tmp_path / "gathered" / file).write_bytes((tmp_path / f"machine{rank}" / file).read_bytes())
    for side in ("config.json", "fastinit_checkpoint.json"):
        (tmp_path / "gathered" / side).write_bytes((tmp_path / "machine0" / side).read_bytes())
    finished = write_checkpoint(build(), tmp_path / "gathered", seed=4, max_shard_size="50KB", resume=True)
    assert finished.written == [] and finished.index_written and len(finished.kept) == len(whole.written)
    assert _files(tmp_path / "gathered") == _files(tmp_path / "whole")


# The command, killed by SIGKILL halfway through writing its third file.
_KILLED_CHILD = """
import os, signal, sys
import safetensors.torch
from fastinit.checkpoint.command import main

write, files = safetensors.torch.save_file, []

def write_and_die_on_the_third(tensors, filename, metadata=None):
    files.append(filename)
    write(tensors, filename, metadata=metadata)
    if len(files) == 3:
        os.truncate(filename, os.path.getsize(filename) // 2)
        os.kill(os.getpid(), signal.SIGKILL)

safetensors.torch.save_file = write_and_die_on_the_third
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_mid_file_then_resume(tmp_path):
    """Killed while a file is being written: nothing incomplete under a
    final name at any moment; --resume keeps what is complete and writes
    the rest, equal to an uninterrupted run."""
    _transformers()
    config = _llama_config(False)
    config.vocab_size, config.hidden_size, config.intermediate_size, config.num_hidden_layers = 8000, 512, 1536, 4
    config.save_pretrained(tmp_path / "config")
    common = ["--transformers", tmp_path / "config", "--class", "LlamaForCausalLM", "--seed", 9,
              "--max-shard-size", "8MB"]
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-c", _KILLED_CHILD, str(out), *map(str, common)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment)
    deadline = time.monotonic() + 300
    while run.poll() is None and time.monotonic() < deadline:
        for name in os.listdir(out) if out.exists() else []:
            if name.endswith(".safetensors"):
                assert _complete(out / name), f"{name} is incomplete under its final name"
        time.sleep(0.001)
    assert run.returncode == -signal.SIGKILL, run.stderr.read()
    names = os.listdir(out)
    assert sorted(n for n in names if n.endswith(".safetensors")) == \
        ["model-00001-of-00008.safetensors", "model-00002-of-00008.safetensors"]
    assert (out / PARTIAL_DIR / "rank-0-of-1" / "model-00003-of-00008.safetensors").exists()
    assert INDEX_NAME not in names
    for path in out.glob("*.safetensors"):
        assert _complete(path)

    again = _command(out, *common)
    assert again.returncode == 1 and "--resume" in again.stderr  # a plain rerun refuses
    resumed = _command(out, *common, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "wrote 6 file(s)" in resumed.stdout and "kept 2 complete file(s)" in resumed.stdout
    assert PARTIAL_DIR not in os.listdir(out)
    clean = _command(tmp_path / "clean", *common)
    assert clean.returncode == 0, clean.stderr
    assert _files(out) == _files(tmp_path / "clean")


_MEMORY_CHILD = """
import resource, sys, torch, transformers
from fastinit.checkpoint import write_checkpoint
config = transformers.LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=10,
                                  num_attention_heads=16, num_key_value_heads=16, tie_word_embeddings=False)
with torch.device("meta"):
    model = transformers.LlamaForCausalLM._from_config(config, dtype=torch.float32)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
result = write_checkpoint(model, sys.argv[1], seed=0, max_shard_size="200MB")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(before, after, result.bytes_written)
"""


def test_peak_memory_stays_within_two_files_whatever_the_model(tmp_path):
    """A 2.7 GB model written in files of at most 200 MB (its largest tensor,
    the 262 MB embedding, gets a file of its own): peak RSS stays within
    what the imports and the meta model take plus two of its largest
    files."""
    _transformers()
    done = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(tmp_path)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    before, after, written = map(int, done.stdout.split())
    largest = max(path.stat().st_size for path in tmp_path.glob("*.safetensors"))
    assert written > 2.5e9
    assert after - before <= 2 * largest + 64 * 2**20, (before, after, largest)


# Bad input: a clear error naming the thing, and nothing under a final name.

def test_a_model_not_on_meta_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"meta device; 0\.weight is on cpu"):
        write_checkpoint(nn.Sequential(nn.Linear(2, 2)), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_folder_with_other_files_is_refused_unless_overwrite(tmp_path):
    build = lambda: _on_meta("BertModel", _bert_config(), torch.float32)  # noqa: E731
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"not part of this checkpoint \(notes\.txt\).*overwrite"):
        write_checkpoint(build(), tmp_path, max_shard_size="50KB")
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
    result = write_checkpoint(build(), tmp_path, max_shard_size="50KB", overwrite=True)
    assert result.index_written and (tmp_path / "notes.txt").read_text() == "mine"

    # Another job's files: refused by resume, replaced by overwrite (stale shards removed).
    with pytest.raises(FileExistsError, match="another job .*another model, seed or init"):
        write_checkpoint(build(), tmp_path, seed=1, max_shard_size="50KB", resume=True)
    write_checkpoint(build(), tmp_path, seed=1, max_shard_size="80KB", overwrite=True)
    index = json.loads((tmp_path / INDEX_NAME).read_text())
    assert sorted(set(index["weight_map"].values())) == sorted(p.name for p in tmp_path.glob("*.safetensors"))


def test_rank_outside_the_world_is_refused(tmp_path):
    model = _on_meta("BertModel", _bert_config(), torch.float32)
    with pytest.raises(ValueError, match=r"rank must lie in \[0, 2\) for world=2, got 2"):
        write_checkpoint(model, tmp_path, rank=2, world=2)
    with pytest.raises(ValueError, match="world must be a positive number"):
        write_checkpoint(model, tmp_path, world=0)
    done = _command(tmp_path / "out", "--model", "checkpoint_models:vit_tiny", "--rank", 3, "--world", 2)
    assert done.returncode == 2 and "--rank 3 lies outside --world 2" in done.stderr
    assert not (tmp_path / "out").exists()


def test_bad_command_input_names_the_thing(tmp_path, capsys):
    _transformers()
    _llama_config(True).save_pretrained(tmp_path / "config")
    config = tmp_path / "config" / "config.json"
    cases = {
        ("--transformers", config, "--class", "LlamaForCausalLM", "--dtype", "bf16"): "unknown dtype 'bf16'",
        ("--transformers", config, "--class", "LlamaForCasualLM"): "no model class 'LlamaForCasualLM'",
        ("--transformers", config, "--class", "BertModel"): "is a LlamaConfig; BertModel takes a BertConfig",
        ("--model", "checkpoint_models:not_a_model"): "returned a str, not a torch.nn.Module",
        ("--model", "checkpoint_models:missing"): "cannot find checkpoint_models:missing",
        ("--transformers", config, "--class", "LlamaForCausalLM", "--max-shard-size", "5 parsecs"):
            "max_shard_size='5 parsecs'",
    }
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 64,
                                                               "num_attention_heads": 5}))
    cases[("--transformers", tmp_path / "bad" / "config.json", "--class", "LlamaForCausalLM")] = \
        "transformers rejects the config"
    for args, message in cases.items():
        try:
            code = main([str(tmp_path / "out"), *map(str, args)])
            text = capsys.readouterr().err
        except SystemExit as stop:
            code, text = stop.code, str(stop.code) + capsys.readouterr().err
        assert code != 0 and message in text, (args, text)
        assert not list((tmp_path / "out").glob("*.safetensors")) if (tmp_path / "out").exists() else True


def _fsize_limited():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))


def test_a_full_disk_leaves_no_file_under_a_final_name(tmp_path):
    _transformers()
    config = _llama_config(False)
    config.vocab_size = 4000  # embeddings of 1 MB: more than the file size limit
    config.save_pretrained(tmp_path / "config")
    done = _command(tmp_path / "out", "--transformers", tmp_path / "config", "--class", "LlamaForCausalLM",
                    "--max-shard-size", "2MB", preexec_fn=_fsize_limited)
    assert done.returncode == 1
    assert "writing" in done.stderr and "model-00001-of-" in done.stderr and "File too large" in done.stderr
    names = os.listdir(tmp_path / "out")
    assert not [n for n in names if n.endswith(".safetensors") or n == PARTIAL_DIR or n == INDEX_NAME], names


def test_layout_matches_huggingface_hub_sizes():
    """max_shard_size is read as transformers reads it: "5GB" is 5e9 bytes."""
    model = _on_meta("LlamaForCausalLM", _llama_config(False), torch.float32)
    layout = checkpoint_layout(model, max_shard_size="100KB")
    assert all(size <= 100_000 or len(names) == 1 for (name, names), size in
               zip(layout.files, layout.sizes.values()))
    assert layout.index["metadata"]["total_size"] == sum(layout.sizes.values())
