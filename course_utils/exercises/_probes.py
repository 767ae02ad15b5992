"""What checkers look at in a learner's model: mode flags and BatchNorm statistics."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["modes", "bn_stats", "same"]


def modes(model: nn.Module) -> list[bool]:
    """The ``training`` flag of every submodule, in order."""
    return [m.training for m in model.modules()]


def bn_stats(model: nn.Module) -> list[torch.Tensor]:
    """Copies of every BatchNorm layer's running mean and variance, in order."""
    return [
        t.detach().clone()
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        for t in (m.running_mean, m.running_var)
    ]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    """True if both lists hold the same number of tensors, pairwise identical."""
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
