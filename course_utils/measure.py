"""Measure what gradient tracking costs: memory kept for backward, and time.

``saved_tensor_bytes`` counts the bytes autograd *saves for the backward pass*
during a call (via ``torch.autograd.graph.saved_tensors_hooks``). That number is
deterministic, unlike process memory, so notebooks can print it and nbval can
compare it. ``time_per_call`` gives a median wall time, which varies.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch

__all__ = ["saved_tensor_bytes", "time_per_call", "GRAD_MODES", "grad_context"]

#: The three ways to run a forward pass that the course compares.
GRAD_MODES = ("grad", "no_grad", "inference_mode")


def grad_context(grad_mode: str):
    """A context manager for ``"grad"`` (tracking on), ``"no_grad"`` or ``"inference_mode"``."""
    if grad_mode == "grad":
        return torch.enable_grad()
    if grad_mode == "no_grad":
        return torch.no_grad()
    if grad_mode == "inference_mode":
        return torch.inference_mode()
    raise ValueError(f"grad_mode must be one of {GRAD_MODES}, got {grad_mode!r}")


def saved_tensor_bytes(fn: Callable[[], Any], grad_mode: str = "grad") -> int:
    """Bytes of tensors autograd saves for backward while ``fn()`` runs under ``grad_mode``.

    Tensors saved several times (the same storage) are counted once. A saved
    *view* counts its whole storage, since that is what it keeps alive: to
    measure a batch sliced from a bigger tensor, pass ``x[:32].clone()``. Under
    ``no_grad`` and ``inference_mode`` nothing is saved, so the result is 0.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a callable taking no arguments, got {type(fn).__name__}")
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        try:
            key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
            seen[key] = t.untyped_storage().nbytes()
        except (RuntimeError, NotImplementedError):  # e.g. tensors without storage
            seen[(id(t), 0)] = t.numel() * t.element_size()
        return t

    with grad_context(grad_mode), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def time_per_call(
    fn: Callable[[], Any],
    grad_mode: str | None = "grad",
    repeats: int = 50,
    warmup: int = 5,
) -> float:
    """Median seconds per ``fn()`` call under ``grad_mode`` (after ``warmup`` calls).

    ``grad_mode=None`` leaves the current grad mode as it is.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a callable taking no arguments, got {type(fn).__name__}")
    if not isinstance(repeats, int) or not isinstance(warmup, int) or repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats}, {warmup}")
    times = []
    with nullcontext() if grad_mode is None else grad_context(grad_mode):
        for i in range(warmup + repeats):
            start = time.perf_counter()
            fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times)
