"""The README's Python examples run as written."""

import os
import re
import tempfile
import warnings
from pathlib import Path

import torch
import torch.distributed as dist

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 3
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(blocks[0], "README usage", "exec"), namespace)
        assert namespace["big"][0].weight.device.type == "cpu"
        w, model = torch.empty(64, 64), torch.nn.Sequential(torch.nn.Linear(8, 8))
        exec(compile(blocks[2], "README mixtures", "exec"), {"w": w, "model": model, "torch": torch, "fastinit": __import__("fastinit")})
    assert 0.3 < (w == 0).float().mean() < 0.7


def test_readme_sharding_example_runs_on_one_rank():
    block = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[1]
    assert "fully_shard" in block
    with tempfile.TemporaryDirectory() as tmp:
        dist.init_process_group("gloo", init_method=f"file://{os.path.join(tmp, 'store')}", rank=0, world_size=1)
        try:
            namespace = {}
            exec(compile(block, "README sharding", "exec"), namespace)
            weight = namespace["model"][0].weight
            assert type(weight).__name__ == "DTensor" and weight.to_local().device.type == "cpu"
        finally:
            dist.destroy_process_group()
