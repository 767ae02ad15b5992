"""Exercise checkers, one module per notebook (``nb01``, ``nb02``, ...).

Use them from a notebook as ``from course_utils.exercises import nb01`` and
then ``nb01.check_exercise_1(your_function)``. Each checker prints a friendly
pass/fail line with a hint and returns a :class:`CheckResult`.
"""

from ._core import CheckResult, run_checks

__all__ = ["CheckResult", "run_checks"]
