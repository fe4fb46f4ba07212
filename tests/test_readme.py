"""The README's Python examples run as written."""

import re
import warnings
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 2
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(blocks[0], "README usage", "exec"), namespace)
        assert namespace["big"][0].weight.device.type == "cpu"
        w, model = torch.empty(64, 64), torch.nn.Sequential(torch.nn.Linear(8, 8))
        exec(compile(blocks[1], "README mixtures", "exec"), {"w": w, "model": model, "torch": torch, "fastinit": __import__("fastinit")})
    assert 0.3 < (w == 0).float().mean() < 0.7
