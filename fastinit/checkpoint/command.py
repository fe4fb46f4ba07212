"""Write a random-init checkpoint of a model, one safetensors file at a time.

    python -m fastinit.checkpoint OUT --transformers config.json --class LlamaForCausalLM
        [--dtype bfloat16] [--seed 0] [--max-shard-size 5GB] [--init auto|model|rules]
        [--rank I --world N] [--resume] [--overwrite]
    python -m fastinit.checkpoint OUT --model package.module:function [...]

OUT gets what `torch.manual_seed(seed); fastinit.materialize(model)` and
`save_pretrained(OUT)` would give, with memory for one file at a time;
`from_pretrained(OUT)` loads it. With --world N, N processes (any machines)
each write their share of the files; the last to finish writes the index.
"""

import argparse
import importlib
import sys
import time

import torch
from torch import nn

from ..bench.report import HelpFormatter
from .writing import write_checkpoint

_PROGRAM = "fastinit.checkpoint"
DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _dtype(name: str | None) -> torch.dtype | None:
    if name is None:
        return None
    if name not in DTYPES:
        raise SystemExit(f"{_PROGRAM}: unknown dtype {name!r}; expected one of {', '.join(DTYPES)}")
    return DTYPES[name]


def transformers_model(config_path: str, class_name: str, dtype: torch.dtype | None) -> nn.Module:
    """`class_name` (a transformers model class) built on the meta device
    from the config at `config_path` (a config.json or a folder holding
    one), in `dtype` (default: the config's)."""
    import transformers

    model_class = getattr(transformers, class_name, None)
    if not (isinstance(model_class, type) and issubclass(model_class, transformers.PreTrainedModel)):
        raise SystemExit(f"{_PROGRAM}: transformers has no model class {class_name!r} "
                         "(e.g. LlamaForCausalLM, BertModel, T5ForConditionalGeneration)")
    try:
        config = transformers.AutoConfig.from_pretrained(config_path)
    except Exception as error:  # whatever transformers raises for a config it refuses
        raise SystemExit(f"{_PROGRAM}: transformers rejects the config {config_path}: {error}") from None
    if not isinstance(config, model_class.config_class):
        raise SystemExit(f"{_PROGRAM}: {config_path} is a {type(config).__name__}; {class_name} takes a "
                         f"{model_class.config_class.__name__}")
    with torch.device("meta"):
        return model_class._from_config(config, **({"dtype": dtype} if dtype is not None else {}))


def function_model(target: str, dtype: torch.dtype | None) -> nn.Module:
    """The model `package.module:function` returns (called with no
    arguments; it builds the model on the meta device), cast to `dtype`."""
    module_name, _, function_name = target.partition(":")
    if not module_name or not function_name:
        raise SystemExit(f"{_PROGRAM}: --model takes package.module:function, got {target!r}")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as error:
        raise SystemExit(f"{_PROGRAM}: cannot find {target}: {error}") from None
    model = function()
    if not isinstance(model, nn.Module):
        raise SystemExit(f"{_PROGRAM}: {target} returned a {type(model).__name__}, not a torch.nn.Module")
    return model.to(dtype) if dtype is not None else model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=_PROGRAM, description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("out", help="the checkpoint's folder (created; must hold no other files)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--transformers", metavar="CONFIG", help="a transformers config.json (or its folder)")
    source.add_argument("--model", metavar="MODULE:FUNCTION", help="a function returning a model on the meta device")
    parser.add_argument("--class", dest="model_class", metavar="NAME",
                        help="the transformers model class (with --transformers)")
    parser.add_argument("--dtype", default=None, help=f"one of {', '.join(DTYPES)} (default: the config's or model's)")
    parser.add_argument("--seed", type=int, default=0, help="torch.manual_seed before materialize")
    parser.add_argument("--max-shard-size", default="5GB", help="largest file, as transformers reads sizes")
    parser.add_argument("--init", default="auto", choices=["auto", "model", "rules"], help="as materialize's init")
    parser.add_argument("--rank", type=int, default=0, help="this process's share of the files")
    parser.add_argument("--world", type=int, default=1, help="how many processes share the files")
    parser.add_argument("--resume", action="store_true", help="keep the complete files of an interrupted run")
    parser.add_argument("--overwrite", action="store_true", help="write into a folder holding other files")
    args = parser.parse_args(argv)
    if args.transformers is not None and args.model_class is None:
        parser.error("--transformers needs --class")
    if not 0 <= args.rank < max(args.world, 1) or args.world < 1:
        parser.error(f"--rank {args.rank} lies outside --world {args.world} (ranks 0 to {args.world - 1})")
    dtype = _dtype(args.dtype)

    start = time.perf_counter()
    if args.transformers is not None:
        model = transformers_model(args.transformers, args.model_class, dtype)
    else:
        model = function_model(args.model, dtype)
    try:
        result = write_checkpoint(model, args.out, seed=args.seed, max_shard_size=args.max_shard_size,
                                  init=args.init, rank=args.rank, world=args.world, resume=args.resume,
                                  overwrite=args.overwrite, progress=True)
    except (ValueError, FileExistsError, OSError, NotImplementedError, MemoryError) as error:
        print(f"{_PROGRAM}: error: {error}", file=sys.stderr)
        return 1
    print(result.summary() + f"; {time.perf_counter() - start:.1f} s in all")
    return 0

