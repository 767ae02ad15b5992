"""Reproducibility and device selection."""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import random
import sys
from typing import Any

import numpy as np
import torch

__all__ = ["set_seed", "get_device", "setup", "free_memory_after_each_cell"]

_MAX_SEED = 2**32 - 1  # NumPy's legacy generator rejects anything larger


def set_seed(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's random number generators.

    Call it once at the top of a notebook (and again before any cell whose
    randomness you want to replay). It also sets ``PYTHONHASHSEED`` for child
    processes.

    Args:
        seed: an integer from 0 to 2**32 - 1 (the range NumPy accepts).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= _MAX_SEED:
        raise ValueError(f"seed must be an int from 0 to 2**32 - 1, for example 0; got {seed!r}")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA and MPS generators


def get_device() -> torch.device:
    """Return the best available device: CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


_frozen = False  # gc.freeze() runs once per process


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, loaded once; ``None`` elsewhere (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _release_memory(*_: Any) -> None:
    """Collect garbage now, then hand freed heap pages back to the system (glibc only)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def free_memory_after_each_cell(shell: Any = None) -> bool:
    """In a Jupyter kernel, free what each cell left behind as soon as it ends.

    A figure is a cycle of objects (figure, axes, canvas), so once a cell has
    shown it and a later cell has rebound ``fig``, only Python's full garbage
    collection frees it. That runs rarely in a process that holds all of
    torch's objects, so a notebook's memory piles up figure after figure. This
    registers a hook that collects garbage after every cell. The first call
    also freezes the objects that exist now (modules, classes: they live as
    long as the kernel), so each collection only looks at what the notebook
    made since, and takes milliseconds. Calling it again does nothing new.

    Returns whether a hook is registered (``False`` outside IPython).
    """
    global _frozen
    if shell is None:
        ipython = sys.modules.get("IPython")  # a kernel has imported it; a script has not
        shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not hasattr(shell, "events"):
        return False
    if not _frozen:
        gc.collect()  # garbage must not be frozen with the rest
        gc.freeze()
        _frozen = True
    callbacks = shell.events.callbacks.get("post_run_cell", [])
    if _release_memory not in callbacks:
        shell.events.register("post_run_cell", _release_memory)
    return True


def setup(seed: int = 0, threads: int | None = 1) -> torch.device:
    """One call at the top of every notebook: seed, readable plots, compact printing.

    * seeds Python, NumPy and PyTorch (:func:`set_seed`);
    * by default uses one CPU thread, so results are bit-for-bit the same on
      machines with different core counts (the course's models are tiny, so
      this costs nothing); pass ``threads=None`` to keep PyTorch's default;
    * applies the course's matplotlib style (large fonts for projectors);
    * prints tensors with 4 decimals and no scientific notation;
    * in a Jupyter kernel, frees what each cell leaves behind (figures it
      replaced) as soon as the cell ends (:func:`free_memory_after_each_cell`),
      so a kernel on a shared hub stays small.

    Returns the device from :func:`get_device`.
    """
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ValueError(
            f"threads must be a positive int (1 gives bit-identical results) or None "
            f"(keep PyTorch's default), got {threads!r}"
        )
    set_seed(seed)
    if threads is not None:
        torch.set_num_threads(threads)
    torch.set_printoptions(precision=4, sci_mode=False)
    np.set_printoptions(precision=4, suppress=True)
    from .style import use_style

    use_style()
    free_memory_after_each_cell()
    return get_device()
