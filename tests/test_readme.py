"""The README's Python examples run as written."""

import contextlib
import io
import os
import re
import tempfile
import warnings
from pathlib import Path

import torch
import torch.distributed as dist

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(marker: str) -> str:
    """The README's Python block that contains `marker`."""
    blocks = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if marker in b]
    assert len(blocks) == 1, marker
    return blocks[0]


def test_readme_usage_runs_quietly_and_says_what_it_did():
    namespace, printed = {}, io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
        warnings.simplefilter("error")  # no warning, from torch or from fastinit
        exec(compile(_block("import fastinit.init as init"), "README usage", "exec"), namespace)
    assert namespace["big"][0].weight.device.type == "cpu"
    lines = printed.getvalue().splitlines()
    assert [line.split(":")[0].split(" in ")[0] for line in lines] == [
        "normal_", "nn.Transformer built under patched()", "reset", "materialized 8 x Linear(4096, 4096) (134 M parameters)"]


def test_readme_examples_run():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w, model = torch.empty(64, 64), torch.nn.Sequential(torch.nn.Linear(8, 8))
        exec(compile(_block("mixture_(w, d2l)"), "README mixtures", "exec"), {"w": w, "model": model, "torch": torch, "fastinit": __import__("fastinit")})
    assert 0.3 < (w == 0).float().mean() < 0.7


def test_readme_sharding_example_runs_on_one_rank():
    block = _block("fully_shard(model)")
    with tempfile.TemporaryDirectory() as tmp:
        dist.init_process_group("gloo", init_method=f"file://{os.path.join(tmp, 'store')}", rank=0, world_size=1)
        try:
            namespace = {}
            exec(compile(block, "README sharding", "exec"), namespace)
            weight = namespace["model"][0].weight
            assert type(weight).__name__ == "DTensor" and weight.to_local().device.type == "cpu"
        finally:
            dist.destroy_process_group()


def test_readme_llama_example_runs():
    import pytest

    pytest.importorskip("transformers")
    namespace = {"torch": torch, "fastinit": __import__("fastinit")}
    exec(compile(_block("fastinit.materialize(llama)"), "README llama", "exec"), namespace)
    llama = namespace["llama"]
    assert not any(p.is_meta for p in llama.parameters())
    assert llama.lm_head.weight.std() > 0.01 and torch.all(llama.model.norm.weight == 1)


def test_readme_deferred_fills_example_runs():
    import pytest

    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, vocab_size=256)
    namespace = {"torch": torch, "fastinit": __import__("fastinit"), "transformers": transformers, "config": config}
    exec(compile(_block("patched(defer_fills=True)"), "README deferred fills", "exec"), namespace)
    model = namespace["model"]
    assert model.lm_head.weight.std() > 0.01 and torch.all(model.model.norm.weight == 1)


def test_readme_test_command_is_what_ci_runs_first():
    """README's second fresh-machine command, step by step, is .ci/run's
    first job (so the README says nothing CI does not check)."""
    text = README.read_text()
    command = text.split("# 2. the tests\n", 1)[1].split("\n", 1)[0]
    steps = [step.strip() for step in command.split("&&")]
    ci_lines = [line.strip() for line in (README.parent / ".ci" / "run").read_text().splitlines()]
    quiet = [line.replace(" --quiet", "") for line in ci_lines]
    positions = [quiet.index(step.replace(" --quiet", "")) for step in steps]
    assert positions == sorted(positions), steps
