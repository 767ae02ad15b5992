"""Measure what gradient tracking costs: memory kept for backward, and time.

``saved_tensor_bytes`` counts the bytes autograd *saves for the backward pass*
during a call (via ``torch.autograd.graph.saved_tensors_hooks``). That number is
deterministic, unlike process memory, so notebooks can print it and nbval can
compare it. Its ``exclude`` argument leaves out tensors that exist anyway (the
weights, the input batch), so what remains is the memory tracking *adds*.

``time_per_call`` gives the median wall time of one function. To compare
variants (grad on, ``no_grad``, ``inference_mode``), use
:func:`interleaved_times`: it alternates the variants within every round, so a
machine that speeds up or slows down during the measurement (frequency
scaling, other programs) affects all of them alike. Timings still vary from
run to run and machine to machine; never print them in compared output.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from typing import Any

import torch

from .checks import check_choice

__all__ = [
    "saved_tensor_bytes",
    "time_per_call",
    "interleaved_times",
    "GRAD_MODES",
    "grad_context",
]

#: The three ways to run a forward pass that the course compares.
GRAD_MODES = ("grad", "no_grad", "inference_mode")


def grad_context(grad_mode: str):
    """A context manager for ``"grad"`` (tracking on), ``"no_grad"`` or ``"inference_mode"``."""
    grad_mode = check_choice("grad_mode", grad_mode, GRAD_MODES)
    if grad_mode == "grad":
        return torch.enable_grad()
    if grad_mode == "no_grad":
        return torch.no_grad()
    return torch.inference_mode()


def _synchronize() -> None:
    """Wait until the GPU (CUDA or Apple's MPS) has finished the work queued so far.

    GPU calls return as soon as the work is queued; without this wait a clock
    would measure the launch, not the computation. On a CPU it does nothing.
    """
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available() and hasattr(torch, "mps"):
        torch.mps.synchronize()


def _storage_key(t: torch.Tensor) -> tuple[int, int] | None:
    try:
        storage = t.untyped_storage()
        return storage.data_ptr(), storage.nbytes()
    except (RuntimeError, NotImplementedError):  # e.g. tensors without storage
        return None


def saved_tensor_bytes(
    fn: Callable[[], Any],
    grad_mode: str = "grad",
    exclude: Iterable[torch.Tensor] = (),
) -> int:
    """Bytes of tensors autograd saves for backward while ``fn()`` runs under ``grad_mode``.

    Tensors saved several times (the same storage) are counted once. A saved
    *view* counts its whole storage, since that is what it keeps alive: to
    measure a batch sliced from a bigger tensor, pass ``x[:32].clone()``. Under
    ``no_grad`` and ``inference_mode`` nothing is saved, so the result is 0.

    ``exclude`` lists tensors that exist anyway, e.g.
    ``[*model.parameters(), batch]``: saved tensors sharing storage with one of
    them are not counted, so the result is the memory that tracking keeps alive
    *in addition* (the activations).
    """
    if not callable(fn):
        raise TypeError(f"fn must be a callable taking no arguments, got {type(fn).__name__}")
    if isinstance(exclude, torch.Tensor):
        exclude = [exclude]
    try:
        excluded_tensors = list(exclude)
    except TypeError:
        raise TypeError(
            f"exclude must be an iterable of tensors, e.g. [*model.parameters(), batch], "
            f"got {type(exclude).__name__}"
        ) from None
    for t in excluded_tensors:
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"exclude must hold only tensors (e.g. [*model.parameters(), batch]), "
                f"got a {type(t).__name__}"
            )
    skip = {key for key in map(_storage_key, excluded_tensors) if key is not None}
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = _storage_key(t)
        if key is None:
            seen[(id(t), 0)] = t.numel() * t.element_size()
        elif key not in skip:
            seen[key] = key[1]
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

    ``grad_mode=None`` leaves the current grad mode as it is. On a GPU (CUDA
    or MPS) it waits for the queued work to finish before reading the clock.
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
            _synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_times(
    fns: Mapping[str, Callable[[], Any]],
    repeats: int = 21,
    warmup: int = 3,
    relative_to: str | None = None,
) -> dict[str, float]:
    """Median time per call of each variant in ``fns``, measured interleaved.

    Every round calls each variant once, in an order that rotates from round
    to round (so no variant always runs first or last); ``warmup`` rounds run
    first and are not timed. Because the variants alternate, a slow phase of
    the machine slows all of them alike. On a GPU (CUDA or Apple's MPS) it
    waits for the queued work to finish before and after each call, so the
    clock measures the computation, not just its launch. Each ``fn`` sets up whatever context
    it needs (e.g. ``with torch.no_grad(): model(x)``).

    Returns, for each name, the median over the ``repeats`` timed rounds of
    its seconds per call, or, with ``relative_to="name"``, of its time divided
    by that variant's time *in the same round* (the ratio a comparison needs;
    a burst of load on a shared machine then cancels out within the round).
    """
    if not isinstance(fns, Mapping) or not fns:
        raise TypeError(
            "fns must be a non-empty dict mapping a name to a callable taking no arguments, "
            f"e.g. {{'no_grad': f, 'inference_mode': g}}, got {fns!r:.80}"
        )
    for name, fn in fns.items():
        if not callable(fn):
            raise TypeError(
                f"fns[{name!r}] must be a callable taking no arguments, got {type(fn).__name__}"
            )
    if (
        isinstance(repeats, bool)
        or isinstance(warmup, bool)
        or not isinstance(repeats, int)
        or not isinstance(warmup, int)
        or repeats < 1
        or warmup < 0
    ):
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats}, {warmup}")
    if relative_to is not None and relative_to not in fns:
        raise ValueError(
            f"relative_to must be one of the names in fns {list(fns)}, or None, got {relative_to!r}"
        )
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(warmup + repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            _synchronize()
            start = time.perf_counter()
            fns[name]()
            _synchronize()
            if round_index >= warmup:
                times[name].append(time.perf_counter() - start)
    if relative_to is None:
        return {name: statistics.median(values) for name, values in times.items()}
    base = times[relative_to]
    return {
        name: statistics.median(t / max(b, 1e-12) for t, b in zip(values, base, strict=True))
        for name, values in times.items()
    }
