"""Logits -> probabilities -> labels, for binary (1 logit) and multi-class (K logits) models.

Binary models output one logit per sample, shape ``(N, 1)`` or ``(N,)``:
``sigmoid`` gives P(class 1), and a threshold gives the label. Multi-class
models output ``(N, K)`` logits: ``softmax`` gives K probabilities per row and
``argmax`` gives the label (``argmax`` of the logits is the same, because
softmax is monotonic).
"""

from __future__ import annotations

import torch

from .checks import check_logits, check_real_device, check_threshold

__all__ = [
    "check_threshold",
    "check_logits",
    "check_real_device",
    "logits_to_probabilities",
    "logits_to_labels",
    "accuracy",
]

# check_threshold, check_logits and check_real_device live in course_utils.checks;
# they are re-exported here, where the notebooks have always imported them from.


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
    return _labels(logits, threshold)


def _labels(logits: torch.Tensor, threshold: float) -> torch.Tensor:
    """:func:`logits_to_labels` on checked logits and a checked threshold."""
    if _is_binary(logits):
        return (torch.sigmoid(logits.reshape(-1)) >= threshold).long()
    return logits.argmax(dim=1)


def accuracy(logits: torch.Tensor, targets: torch.Tensor, threshold: float = 0.5) -> float:
    """Fraction of samples whose predicted label equals the target (a float in [0, 1]).

    ``targets`` may be ``(N,)`` or ``(N, 1)``, float 0/1 or long class indices.
    """
    logits = check_logits(logits)
    if _is_binary(logits):
        threshold = check_threshold(threshold)
    return _checked_accuracy(logits, targets, threshold)


def _checked_accuracy(logits: torch.Tensor, targets: object, threshold: float) -> float:
    """:func:`accuracy` for logits that passed :func:`check_logits` and a checked threshold.

    For callers that validated the threshold at their own entry (the training
    loop, once per ``fit``) and check the model's logits per batch. The
    targets are still checked here: they arrive batch by batch.
    """
    labels = _labels(logits, threshold)
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
