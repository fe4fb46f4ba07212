"""Models for `python -m fastinit.checkpoint --model checkpoint_models:NAME`
in tests/test_checkpoint.py: functions returning a model built on the meta
device."""

import torch


def vit_tiny():
    import timm

    with torch.device("meta"):
        return timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, depth=2,
                                 num_classes=10)


def not_a_model():
    return "a string"
