"""Reproducibility and device selection."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["set_seed", "get_device", "setup"]

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


def setup(seed: int = 0, threads: int | None = 1) -> torch.device:
    """One call at the top of every notebook: seed, readable plots, compact printing.

    * seeds Python, NumPy and PyTorch (:func:`set_seed`);
    * by default uses one CPU thread, so results are bit-for-bit the same on
      machines with different core counts (the course's models are tiny, so
      this costs nothing); pass ``threads=None`` to keep PyTorch's default;
    * applies the course's matplotlib style (large fonts for projectors);
    * prints tensors with 4 decimals and no scientific notation.

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
    return get_device()
