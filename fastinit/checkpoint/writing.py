"""Random-init checkpoints written one file at a time: the safetensors files
(and index) that `save_pretrained` would write for a model built on the
meta device and materialized with a seed, without the model ever being in
memory whole.

Note [checkpoints one file at a time]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
With name-keyed seeds (Note [name-keyed seeds] in fastinit.keyed) a
tensor's values depend on the base seed, its name, shape and distribution,
not on which other tensors exist. So each file of a checkpoint is written by
materializing only its own tensors (materialize_part: the rest of the model
stays on the meta device, where fills write nothing) with the generator
seeded afresh, saving them, and putting them back on the meta device. Each
file's tensors hold exactly what `torch.manual_seed(seed);
materialize(model)` gives them in memory, because the init that fills them
is materialize's own: the model's protocol (init="model", run once per
file, so any op it uses works as it does in memory) or the rules
(init="rules"). An init that computes a tensor of one file from a tensor of
another (an op mixing a CPU and a meta tensor) raises instead of writing
something else. Memory holds one file's tensors at a time.

Files are split as save_pretrained splits them (huggingface_hub's
split_torch_state_dict_into_shards over the state dict without tied
duplicates), so n processes (`rank`, `world`) each write the files whose
index is their rank modulo n and together give exactly the files one
process writes; no process waits for another.

Never a half-written checkpoint: a file is written in the process's own
scratch folder (`.partial/rank-<i>-of-<n>/`, where safetensors also keeps
its temporary file), flushed to disk, then renamed into place; the index is
written the same way, last, by whichever process finds every file in place
(a file under its final name is complete). A process starts by emptying its
scratch folder (what a killed run left) and removes it when it ends. The job (seed, init, rules, model class,
stream version, and a fingerprint of these with every tensor's name, shape
and dtype) is written beside the files as fastinit_checkpoint.json, by
every process alike, so `resume` can tell an interrupted run of this job,
whose complete files it keeps, from another job's, which it refuses to
build on. The safetensors files' own metadata is save_pretrained's
({"format": "pt"}) alone: the library writes its metadata in an order that
varies from process to process, and one key keeps the files of any two
processes byte-identical.
"""

import copy
import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .._ops import STREAM_VERSION
from ..allocation import allocate, flat_bytes, replace_tensors
from ..headroom import require
from ..keyed import named_once
from ..model import materialize_part
from ..sharding import is_dtensor

__all__ = ["write_checkpoint", "CheckpointWritten", "checkpoint_layout"]

INDEX_NAME = "model.safetensors.index.json"
JOB_NAME = "fastinit_checkpoint.json"  # what wrote the checkpoint (Note [checkpoints one file at a time])
PARTIAL_DIR = ".partial"  # the processes' scratch folders
_FUNCTION = "fastinit.write_checkpoint"
_INIT_CHOICES = ("auto", "model", "rules")


@dataclass
class Layout:
    """What a checkpoint holds: its files in order (name, state-dict names),
    the model's tensor path of each state-dict name, the index (None for a
    single file), the side files (configs, the job) and each tensor's shape
    and dtype as a safetensors header lists them."""

    files: list[tuple[str, list[str]]]
    paths: dict[str, str]  # state-dict name -> qualified parameter/buffer name
    sizes: dict[str, int]  # file name -> bytes of its tensors
    index: dict | None
    side_files: dict[str, str]  # file name -> text (config.json, generation_config.json, JOB_NAME)
    shapes: dict[str, tuple[list[int], str]]  # state-dict name -> (shape, safetensors dtype name)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.files]

    def files_of(self, rank: int, world: int) -> list[tuple[str, list[str]]]:
        return self.files[rank::world]


@dataclass
class CheckpointWritten:
    """What a write_checkpoint call did."""

    out: Path
    written: list[str] = field(default_factory=list)  # files this call wrote
    kept: list[str] = field(default_factory=list)  # complete files it found (resume)
    bytes_written: int = 0
    seconds: float = 0.0
    index_written: bool = False  # the index (or, unsharded, the one file) is in place: the checkpoint is complete
    missing: list[str] = field(default_factory=list)  # files of other ranks not yet in place

    def summary(self) -> str:
        rate = self.bytes_written / self.seconds / 1e9 if self.seconds > 0 else 0.0
        text = (f"fastinit.checkpoint: wrote {len(self.written)} file(s), {self.bytes_written / 1e9:.2f} GB, "
                f"to {self.out} in {self.seconds:.1f} s ({rate:.2f} GB/s)")
        if self.kept:
            text += f"; kept {len(self.kept)} complete file(s)"
        if self.missing:
            text += f"; {len(self.missing)} file(s) of other ranks not in place yet, the last rank writes the index"
        elif self.index_written:
            text += "; the checkpoint is complete"
        return text


def _state_dict_without_ties(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict save_pretrained saves (transformers: its own removal
    of tied names and its weight-format reversal), else the state dict with
    each tensor under its first name, as safetensors wants it."""
    state = model.state_dict(keep_vars=True)
    try:
        from transformers import PreTrainedModel
    except ImportError:
        PreTrainedModel = None
    if PreTrainedModel is not None and isinstance(model, PreTrainedModel):
        from transformers.modeling_utils import remove_tied_weights_from_state_dict

        if model._keys_to_ignore_on_save:
            state = {k: v for k, v in state.items() if k not in model._keys_to_ignore_on_save}
        state = remove_tied_weights_from_state_dict(dict(state), model)
        try:
            from transformers.core_model_loading import revert_weight_conversion
        except ImportError:
            return state
        reverted = revert_weight_conversion(model, dict(state))
        if set(reverted) != set(state) or any(reverted[k] is not state[k] for k in state):
            raise NotImplementedError(f"{_FUNCTION}: {type(model).__name__}'s save_pretrained converts its weights "
                                      "to another layout, which a checkpoint written tensor by tensor does not do")
        return state
    seen, unique = set(), {}
    for name, tensor in state.items():
        if id(tensor) not in seen:
            seen.add(id(tensor))
            unique[name] = tensor
    return unique


def _side_files(model: nn.Module, dtype: torch.dtype | None) -> dict[str, str]:
    """config.json (and generation_config.json) as save_pretrained writes
    them for a transformers model; nothing for other models."""
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "to_json_string"):
        return {}
    config = copy.deepcopy(config)
    if dtype is not None:
        config.dtype = str(dtype).split(".")[1]
    config.architectures = [type(model).__name__]
    files = {"config.json": config.to_json_string(use_diff=True)}
    can_generate = getattr(model, "can_generate", None)
    if callable(can_generate) and can_generate() and getattr(model, "generation_config", None) is not None:
        files["generation_config.json"] = model.generation_config.to_json_string(use_diff=True)
    return files


def checkpoint_layout(model: nn.Module, max_shard_size: int | str = "5GB", seed: int = 0, init: str = "auto",
                      rules: dict | None = None) -> Layout:
    """The files a checkpoint of `model` (on the meta device) consists of."""
    from huggingface_hub import split_torch_state_dict_into_shards

    state = _state_dict_without_ties(model)
    paths_by_id = {id(tensor): name for name, tensor in named_once(model)}
    paths = {}
    for name, tensor in state.items():
        if id(tensor) not in paths_by_id:
            raise NotImplementedError(f"{_FUNCTION}: the state dict's {name!r} is not a parameter or buffer of the "
                                      "model (a state-dict hook made it)")
        paths[name] = paths_by_id[id(tensor)]
    try:
        split = split_torch_state_dict_into_shards(state, filename_pattern="model{suffix}.safetensors",
                                                   max_shard_size=max_shard_size)
    except ValueError as error:
        raise ValueError(f"{_FUNCTION}: max_shard_size={max_shard_size!r}: {error}") from None
    files = [(name, list(tensors)) for name, tensors in split.filename_to_tensors.items()]
    sizes = {name: sum(state[t].numel() * state[t].element_size() for t in tensors) for name, tensors in files}
    index = None
    if split.is_sharded:
        metadata = dict(split.metadata)
        if hasattr(model, "num_parameters") and hasattr(model, "config"):  # transformers' index also counts them
            metadata = {"total_parameters": model.num_parameters(), **metadata}
        index = {"metadata": metadata, "weight_map": split.tensor_to_filename}
    dtypes = {t.dtype for t in state.values() if t.is_floating_point()}
    side_files = _side_files(model, dtypes.pop() if len(dtypes) == 1 else None)
    shapes = {name: (list(t.shape), _SAFETENSORS_DTYPES.get(t.dtype, str(t.dtype))) for name, t in state.items()}
    job = {"seed": seed, "init": init, "rules": repr(rules), "stream_version": STREAM_VERSION,
           "model": f"{type(model).__module__}.{type(model).__qualname__}"}
    fingerprint = hashlib.blake2b(json.dumps([job, list(shapes.items()), [n for n, _ in files]]).encode(),
                                  digest_size=16).hexdigest()
    side_files[JOB_NAME] = json.dumps({**job, "fingerprint": fingerprint}, indent=2, sort_keys=True) + "\n"
    return Layout(files, paths, sizes, index, side_files, shapes)


# torch dtype -> the name safetensors headers give it
_SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
                       torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
                       torch.uint8: "U8", torch.bool: "BOOL"}


def _holds(path: Path, layout: Layout, names: list[str]) -> bool:
    """Whether the safetensors file at `path` holds exactly the tensors
    `names` with the layout's shapes and dtypes (read from its header)."""
    try:
        with open(path, "rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(length))
    except (OSError, ValueError):
        return False
    header.pop("__metadata__", None)
    return set(header) == set(names) and all(
        [header[n]["shape"], header[n]["dtype"]] == [layout.shapes[n][0], layout.shapes[n][1]] for n in names)


def _write_atomically(path: Path, write, scratch: Path) -> None:
    """`write(a path in the scratch folder)`, flushed to disk, then renamed
    to `path`; on any failure the partial file is removed and the error
    re-raised naming the file."""
    partial = scratch / path.name
    try:
        # made here, not once: a process that ends removes the shared parent when it is empty
        scratch.mkdir(parents=True, exist_ok=True)
        write(partial)
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, Exception) and not isinstance(error, KeyboardInterrupt):
            raise OSError(f"{_FUNCTION}: writing {path} failed ({error}); the partial file was removed, "
                          "nothing was left under a final name") from error
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself
    finally:
        os.close(directory)


def _write_text(path: Path, text: str, scratch: Path) -> None:
    _write_atomically(path, lambda partial: partial.write_text(text, encoding="utf-8"), scratch)


def _check_model(model: nn.Module) -> None:
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        if is_dtensor(tensor):
            raise ValueError(f"{_FUNCTION}: {name} is a DTensor; build the model unsharded on the meta device")
        if not tensor.is_meta:
            raise ValueError(f"{_FUNCTION} expects a model built on the meta device; {name} is on {tensor.device}")


def _check_folder(out: Path, layout: Layout, own: list[str], resume: bool, overwrite: bool) -> list[str]:
    """Refuses a folder holding files that are not this checkpoint's (unless
    `overwrite`) or this rank's files already (unless `resume` or
    `overwrite`); returns this rank's files that are complete already (to
    keep: resume only)."""
    if not out.exists():
        return []
    if not out.is_dir():
        raise ValueError(f"{_FUNCTION}: {out} is not a folder")
    final = set(layout.names) | set(layout.side_files) | ({INDEX_NAME} if layout.index else set())
    entries = {entry.name for entry in out.iterdir()}
    foreign = sorted(name for name in entries if name not in final and name != PARTIAL_DIR)
    # side files of another job (its config, its description) are foreign too
    foreign += [name for name, text in layout.side_files.items()
                if name in entries and (out / name).read_text(encoding="utf-8") != text]
    if JOB_NAME in foreign and not overwrite:
        raise FileExistsError(f"{_FUNCTION}: {out} holds a checkpoint of another job (its {JOB_NAME} names "
                              "another model, seed or init); pass overwrite=True (--overwrite) to replace it")
    if foreign and not overwrite:
        listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise FileExistsError(f"{_FUNCTION}: {out} holds files that are not part of this checkpoint ({listed}); "
                              "write to an empty folder, or pass overwrite=True (--overwrite) to write beside them")
    present = [name for name in own if name in entries]
    if present and not (resume or overwrite):
        raise FileExistsError(f"{_FUNCTION}: {out} already holds {present[0]}"
                              + (f" and {len(present) - 1} more of this rank's files" if len(present) > 1 else "")
                              + "; pass resume=True (--resume) to finish an interrupted job, or overwrite=True "
                              "(--overwrite) to write it anew")
    if overwrite and not resume:
        return []
    kept = []
    names = dict(layout.files)
    for name in present:
        if _holds(out / name, layout, names[name]):
            kept.append(name)
        elif not overwrite:
            raise FileExistsError(f"{_FUNCTION}: {out / name} is not a file of this checkpoint (its tensors "
                                  "differ); pass overwrite=True (--overwrite) to replace it")
    return kept


def _remove_stale(out: Path, layout: Layout) -> None:
    """With overwrite: checkpoint files of another layout (shards of another
    count, an index a single file no longer has), as save_pretrained
    removes them."""
    final = set(layout.names) | ({INDEX_NAME} if layout.index else set())
    for entry in out.iterdir():
        if entry.name not in final and entry.name.startswith("model") and (
                entry.name.endswith(".safetensors") or entry.name == INDEX_NAME):
            entry.unlink()


def _release(model: nn.Module) -> None:
    """Puts every allocated parameter and buffer back on the meta device
    (tied tensors stay tied), freeing a written file's memory."""
    allocated = {id(t): t for t in list(model.parameters()) + list(model.buffers()) if not t.is_meta}
    replace_tensors(model, {key: torch.empty_like(t, device="meta") for key, t in allocated.items()})


def _forget_initialized(model: nn.Module) -> None:
    """transformers marks each module it initialized (`_is_hf_initialized`)
    and skips marked modules afterwards; each file's pass runs the protocol
    on the model anew, as materialize runs it on a fresh one."""
    for module in model.modules():
        module.__dict__.pop("_is_hf_initialized", None)


def _tensor_at(model: nn.Module, path: str) -> torch.Tensor:
    owner, _, name = path.rpartition(".")
    module = model.get_submodule(owner) if owner else model
    tensor = module._parameters.get(name)
    return tensor if tensor is not None else module._buffers[name]


def _file_tensors(model: nn.Module, state_names: list[str], layout: Layout, seed: int, init: str,
                  rules: dict | None, storage: torch.Tensor) -> dict[str, torch.Tensor]:
    """The tensors of one file, materialized alone in `storage` (Note
    [checkpoints one file at a time]); the model is left on the meta
    device."""
    part = {id(_tensor_at(model, layout.paths[n])) for n in state_names}
    _forget_initialized(model)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            materialize_part(model, part, "cpu", rules, None, init, storage=storage)
        return {n: _tensor_at(model, layout.paths[n]).detach() for n in state_names}
    finally:
        _release(model)


def _save(path: Path, tensors: dict[str, torch.Tensor], scratch: Path) -> None:
    from safetensors.torch import save_file

    _write_atomically(path, lambda partial: save_file(tensors, partial, metadata={"format": "pt"}), scratch)


def _progress(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, desc="fastinit.checkpoint", dynamic_ncols=True)


def write_checkpoint(model: nn.Module, out: str | os.PathLike, seed: int = 0, max_shard_size: int | str = "5GB",
                     init: str = "auto", rules: dict | None = None, rank: int = 0, world: int = 1,
                     resume: bool = False, overwrite: bool = False, progress: bool = False) -> CheckpointWritten:
    """Write the checkpoint of `model` (built on the meta device) that
    `torch.manual_seed(seed); fastinit.materialize(model, init=init,
    rules=rules)` followed by `save_pretrained(out, max_shard_size=...)`
    would write, one file at a time (Note [checkpoints one file at a
    time]): safetensors files of at most `max_shard_size` (a number of bytes
    or "5GB", "500MB" as transformers reads them; a tensor larger than that
    gets a file of its own), `model.safetensors.index.json` when there are
    several, and for a transformers model its config.json (and
    generation_config.json). Peak memory: one file's tensors.

    `rank`, `world`: this process writes files rank, rank + world, ...;
    `world` processes (any machines, no communication) write the files one
    process writes. The index is written by the process that finds every
    file in place when it finishes. `resume` keeps the complete files of an
    interrupted run of the same job and writes the rest; `overwrite` writes
    into a folder holding other files, replacing this checkpoint's. The
    model is left on the meta device."""
    if init not in _INIT_CHOICES:
        raise ValueError(f"{_FUNCTION}: init must be one of {_INIT_CHOICES}, got {init!r}")
    if not isinstance(world, int) or world < 1:
        raise ValueError(f"{_FUNCTION}: world must be a positive number of processes, got {world!r}")
    if not isinstance(rank, int) or not 0 <= rank < world:
        raise ValueError(f"{_FUNCTION}: rank must lie in [0, {world}) for world={world}, got {rank!r}")
    _check_model(model)
    out = Path(out)
    layout = checkpoint_layout(model, max_shard_size, seed, init, rules)
    own = layout.files_of(rank, world)
    kept = _check_folder(out, layout, [name for name, _ in own], resume, overwrite)
    scratch = out / PARTIAL_DIR / f"rank-{rank}-of-{world}"
    shutil.rmtree(scratch, ignore_errors=True)  # what a killed run of this rank left
    result = CheckpointWritten(out=out, kept=kept)
    try:
        if overwrite and rank == 0:
            _remove_stale(out, layout)
        for name, text in layout.side_files.items():
            if not (out / name).exists() or (out / name).read_text(encoding="utf-8") != text:
                _write_text(out / name, text, scratch)
        _write_files(model, out, scratch, layout, [f for f in own if f[0] not in kept], seed, init, rules,
                     progress, result)
        result.missing = [name for name in layout.names if not (out / name).exists()]
        if not result.missing:
            if layout.index is not None:
                foreign = [name for name, names in layout.files if not _holds(out / name, layout, names)]
                if foreign:
                    raise FileExistsError(f"{_FUNCTION}: {out / foreign[0]} is not a file of this checkpoint "
                                          "(its tensors differ); the index was not written")
                _write_text(out / INDEX_NAME, json.dumps(layout.index, indent=2, sort_keys=True) + "\n", scratch)
            result.index_written = True
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        try:
            (out / PARTIAL_DIR).rmdir()  # the last process to end
        except OSError:
            pass
    return result


def _write_files(model: nn.Module, out: Path, scratch: Path, layout: Layout, files: list, seed: int, init: str,
                 rules: dict | None, progress: bool, result: CheckpointWritten) -> None:
    """Writes `files` in order, materializing each next file while a
    thread writes the one before (safetensors releases the GIL while it
    writes), in two buffers used in turn: memory holds two files' tensors,
    and after the first two files no page is faulted in again."""
    if not files:
        return
    largest = max(flat_bytes({id(t): t for t in (_tensor_at(model, layout.paths[n]) for n in names)}.values())
                  for _, names in files)
    require(2 * largest, torch.device("cpu"), _FUNCTION)
    buffers = [allocate(max(largest, 1), torch.device("cpu")) for _ in range(2)]
    bar = _progress(sum(layout.sizes[name] for name, _ in files), progress)
    start = time.perf_counter()
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastinit-checkpoint")
    writing = None  # (name, future) of the file being written

    def finish():
        name, future = writing
        future.result()
        result.written.append(name)
        result.bytes_written += layout.sizes[name]
        result.seconds = time.perf_counter() - start
        if bar is not None:
            bar.update(layout.sizes[name])

    try:
        for number, (name, names) in enumerate(files):
            if bar is not None:
                bar.set_postfix_str(name)
            # the buffer of the file before last, whose write has finished
            tensors = _file_tensors(model, names, layout, seed, init, rules, buffers[number % 2])
            if writing is not None:
                finish()
            writing = (name, writer.submit(_save, out / name, tensors, scratch))
            del tensors  # the writer's reference is the last: memory goes when the file is written
        if writing is not None:
            finish()
            writing = None
    finally:
        writer.shutdown(wait=True)  # a write in flight ends (and cleans up) before anything else
        if bar is not None:
            bar.close()
