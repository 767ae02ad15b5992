"""Interactive widgets of the course (ipywidgets 7 and 8, with or without ipympl).

Names are imported lazily so that ``import course_utils.widgets`` stays cheap.
Each widget exposes ``.summary`` (an HTML widget with a text summary) and
``.state`` (a dict of the latest numbers), so tests can drive its controls by
setting ``.value`` / calling ``.click()`` and assert what changed.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ModeExplorer": "mode_explorer",
    "BatchNormPanel": "mode_explorer",
    "ThresholdExplorer": "threshold",
    "LiveBoundaryTrainer": "live_boundary",
    "PlaygroundTrainer": "playground",
    "interactive_backend": "_base",
    "FigureHost": "_base",
    "CourseWidget": "_base",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'course_utils.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
