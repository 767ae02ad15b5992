"""Exercise checkers, one module per notebook (``nb01``, ``nb02``, ...).

Use them from a notebook as ``from course_utils.exercises import nb01`` and
then ``nb01.check_exercise_1(your_function)``. Each checker prints a friendly
pass/fail line with a hint and returns a :class:`CheckResult`.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable

from ._core import CheckResult, run_checks

__all__ = ["CheckResult", "run_checks", "all_checkers"]


def all_checkers() -> list[tuple[str, Callable[..., CheckResult]]]:
    """Every checker of the course as ``("nb01.check_exercise_1", function)``, in order.

    Imports each ``nbNN`` module (and so torch); handy for a lecturer's overview
    and for tests that hold every checker to the same rules.
    """
    found = []
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("nb"))
    for module_name in names:
        module = importlib.import_module(f"{__name__}.{module_name}")
        for name in getattr(module, "__all__", []):
            fn = getattr(module, name)
            if name.startswith("check_") and inspect.isfunction(fn):
                found.append((f"{module_name}.{name}", fn))
    return found
