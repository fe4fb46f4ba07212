"""Random-init checkpoints streamed to safetensors files, one file at a
time (Note [checkpoints one file at a time] in fastinit.checkpoint.writing);
`python -m fastinit.checkpoint` is the command."""

from .writing import CheckpointWritten, checkpoint_layout, write_checkpoint

__all__ = ["write_checkpoint", "checkpoint_layout", "CheckpointWritten"]
