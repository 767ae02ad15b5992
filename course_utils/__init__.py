"""Helpers for the course *PyTorch train mode vs eval mode*.

The notebooks keep the teaching code visible; this package holds the plumbing:
seeding and device choice (:mod:`course_utils.runtime`), mode inspection
(:mod:`course_utils.modes`), data sets, models, the training loop, plotting,
widgets and exercise checkers.

Importing the package is cheap: every submodule (and so torch, matplotlib and
ipywidgets) is imported only when one of its names is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> submodule that defines it
_LAZY = {
    "set_seed": "runtime",
    "setup": "runtime",
    "get_device": "runtime",
    "expect_error": "errors",
    "mode_report": "modes",
    "eval_mode": "modes",
    "train_mode": "modes",
    "ModeReport": "modes",
    "freeze": "freezing",
    "unfreeze": "freezing",
    "fit": "training",
    "evaluate": "training",
    "plot_decision_boundary": "plotting",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'course_utils' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
