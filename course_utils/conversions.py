"""Logits -> probabilities -> labels, for binary (1 logit) and multi-class (K logits) models.

Binary models output one logit per sample, shape ``(N, 1)`` or ``(N,)``:
``sigmoid`` gives P(class 1), and a threshold gives the label. Multi-class
models output ``(N, K)`` logits: ``softmax`` gives K probabilities per row and
``argmax`` gives the label (``argmax`` of the logits is the same, because
softmax is monotonic).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

__all__ = [
    "check_threshold",
    "check_logits",
    "check_real_device",
    "logits_to_probabilities",
    "logits_to_labels",
    "accuracy",
]


def check_threshold(threshold: float) -> float:
    """Return ``threshold`` as a float, or raise if it is not a number in [0, 1]."""
    if isinstance(threshold, torch.Tensor) and threshold.numel() == 1:
        threshold = threshold.item()
    if isinstance(threshold, bool | np.bool_) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold must be a number between 0 and 1, got {threshold!r}")
    if math.isnan(threshold):
        raise ValueError("threshold must be between 0 and 1, got nan")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(
            f"threshold must be between 0 and 1 (it is compared with a probability), got {threshold}. "
            "To threshold raw logits, use threshold 0.5 on probabilities (= logit 0)."
        )
    return float(threshold)


def check_real_device(tensor: torch.Tensor, what: str) -> torch.Tensor:
    """Raise a ``ValueError`` if ``tensor`` lives on the ``meta`` device (shapes, no values)."""
    if tensor.device.type == "meta":
        raise ValueError(
            f"the tensor passed as {what} is on the 'meta' device, which records shapes but holds no values, so "
            "nothing can be computed from it. Create it on a real device (e.g. device='cpu'); "
            "for a model built on 'meta', call model.to_empty(device='cpu') and load its weights."
        )
    return tensor


def check_logits(logits: object) -> torch.Tensor:
    """Return ``logits`` if it is a floating tensor of shape (N,), (N, 1) or (N, K); else raise.

    NaN logits are refused too: every label computed from them would be meaningless.
    """
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor (the model's output), got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be floating point, got dtype {logits.dtype}")
    if logits.ndim not in (1, 2) or logits.shape[0] == 0:
        raise ValueError(
            f"logits must have shape (N,), (N, 1) or (N, K) with N > 0, got {tuple(logits.shape)}"
        )
    check_real_device(logits, "logits")
    nan = torch.isnan(logits.detach())
    if nan.any():
        rows = nan.reshape(logits.shape[0], -1).any(dim=1)
        raise ValueError(
            f"logits contain NaN in {int(rows.sum())} of {logits.shape[0]} rows (first: row "
            f"{int(rows.nonzero()[0, 0])}), so no label can be computed from them. The model's "
            "training probably diverged (try a smaller learning rate), or its input contains NaN."
        )
    return logits


def _is_binary(logits: torch.Tensor) -> bool:
    return logits.ndim == 1 or logits.shape[1] == 1


def logits_to_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """``sigmoid`` for one logit per sample (same shape back), ``softmax`` over K logits."""
    logits = check_logits(logits)
    return torch.sigmoid(logits) if _is_binary(logits) else torch.softmax(logits, dim=1)


def logits_to_labels(logits: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Predicted labels as a long tensor of shape ``(N,)``.

    Binary: ``sigmoid(logit) >= threshold`` (threshold on the probability, in [0, 1]).
    Multi-class: ``argmax`` over the K logits (``threshold`` is not used).
    """
    logits = check_logits(logits)
    if _is_binary(logits):
        threshold = check_threshold(threshold)
        return (torch.sigmoid(logits.reshape(-1)) >= threshold).long()
    return logits.argmax(dim=1)


def accuracy(logits: torch.Tensor, targets: torch.Tensor, threshold: float = 0.5) -> float:
    """Fraction of samples whose predicted label equals the target (a float in [0, 1]).

    ``targets`` may be ``(N,)`` or ``(N, 1)``, float 0/1 or long class indices.
    """
    labels = logits_to_labels(logits, threshold)
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"targets must be a torch.Tensor, got {type(targets).__name__}")
    if targets.ndim > 2 or (targets.ndim == 2 and targets.shape[1] != 1):
        raise ValueError(
            f"targets must have shape (N,) or (N, 1) holding one label per sample, got "
            f"{tuple(targets.shape)}; for one-hot targets pass targets.argmax(dim=1)"
        )
    check_real_device(targets, "targets")
    if targets.is_floating_point() and torch.isnan(targets).any():
        raise ValueError("targets contain NaN; every sample needs a label (0/1 or a class index)")
    if targets.is_floating_point() and not torch.equal(targets, targets.round()):
        raise ValueError(
            "targets must be whole-number labels (0/1 or class indices), got fractional "
            "values; compare labels, not probabilities"
        )
    targets = targets.reshape(-1)
    if targets.shape[0] != labels.shape[0]:
        raise ValueError(
            f"logits and targets disagree on the number of samples: {labels.shape[0]} vs {targets.shape[0]}"
        )
    _check_label_range(logits, targets)
    return (labels == targets.to(labels.device).long()).float().mean().item()


def _check_label_range(logits: torch.Tensor, targets: torch.Tensor) -> None:
    """Targets must be labels the model can predict: 0/1 (one logit) or 0..K-1 (K logits)."""
    if targets.numel() == 0 or targets.dtype == torch.bool:
        return
    low, high = targets.min().item(), targets.max().item()
    n_classes = 2 if _is_binary(logits) else logits.shape[1]
    if low >= 0 and high <= n_classes - 1:
        return
    bad = high if high > n_classes - 1 else low
    if _is_binary(logits):
        raise ValueError(
            f"targets hold the label {bad:g}, but a model with one logit per sample predicts "
            "only 0 or 1. For more classes, give the model one output per class and use "
            "CrossEntropyLoss."
        )
    raise ValueError(
        f"targets hold the class {bad:g}, but the logits have {n_classes} columns, i.e. classes "
        f"0 to {n_classes - 1}. Give the model one output per class (the last layer's out_features)."
    )
