"""A tiny framework for friendly exercise checkers.

A checker runs the learner's code on test cases and prints one clear line:
``✅ Exercise 1.2 passed (4 checks).`` or ``❌ Exercise 1.2: <what failed>``
followed by a hint. It never shows a raw traceback: an exception in the
learner's code is reported as "your code raised ...". Whatever the learner's
code does to PyTorch's grad switch (``torch.set_grad_enabled(False)`` and then
an exception, say), it is back to its previous value when the checker returns.

Each check is a ``(description, function)`` pair. The function returns
``None`` or a true value (``True``, ``numpy.True_``, ``tensor(True)``) when the
check passes, or ``False`` / a string explaining the failure; it may also
raise ``AssertionError`` with a message.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["CheckResult", "run_checks", "Check", "function_check", "is_function", "sandbox"]

Check = tuple[str, Callable[[], object]]


@dataclass
class CheckResult:
    """Outcome of a checker. ``bool(result)`` is ``result.passed``."""

    exercise: str
    passed: bool
    message: str
    failures: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"CheckResult(exercise={self.exercise!r}, passed={self.passed})"

    def _ipython_display_(self) -> None:
        # The message was already printed by run_checks; show nothing twice.
        pass


def _failure(outcome: object) -> str | None:
    """``None`` if a check's return value means "passed", else the failure message.

    Passing: ``None`` or anything true (``True``, ``numpy.True_``, a one-element
    ``tensor(True)``). Failing: a string (the explanation) or anything false.
    """
    if outcome is None:
        return None
    if isinstance(outcome, str):
        return outcome or "the result was not what was expected"
    try:
        passed = bool(outcome)
    except Exception:  # e.g. a tensor with several elements: the checker is wrong
        return f"the check returned {type(outcome).__name__}, not True/False/None/a message"
    return None if passed else "the result was not what was expected"


@contextmanager
def _grad_switch_restored() -> Iterator[None]:
    """Put torch's grad-enabled switch back as it was (without importing torch if unused)."""
    torch = sys.modules.get("torch")
    before = torch.is_grad_enabled() if torch is not None else True
    try:
        yield
    finally:
        torch = sys.modules.get("torch")
        if torch is not None and torch.is_grad_enabled() != before:
            torch.set_grad_enabled(before)


def run_checks(exercise: str, checks: Sequence[Check], hint: str = "") -> CheckResult:
    """Run ``checks`` in order, stop at the first failure, print and return the result.

    The grad switch is restored only at the end, not between checks, so a check
    can still see that the learner's code left gradient tracking off.
    """
    if not checks:
        raise ValueError("run_checks needs at least one (description, function) check")
    with _grad_switch_restored():
        return _run(exercise, checks, hint)


def _run(exercise: str, checks: Sequence[Check], hint: str) -> CheckResult:
    for number, (description, check) in enumerate(checks, start=1):
        try:
            outcome = check()
        except AssertionError as exc:
            detail = str(exc) or "the check's condition was not met"
        except Exception as exc:  # the learner's code failed: report it, no traceback
            detail = f"your code raised {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}".rstrip(": ")
        else:
            detail = _failure(outcome)
            if detail is None:
                continue
        message = f"❌ Exercise {exercise}: check {number} of {len(checks)} failed ({description}): {detail}"
        if hint:
            message += f"\n   Hint: {hint}"
        print(message)
        return CheckResult(exercise, False, message, [detail])
    message = f"✅ Exercise {exercise} passed ({len(checks)} checks)."
    print(message)
    return CheckResult(exercise, True, message)


def is_function(fn: object, name: str) -> Callable[[], str | None]:
    """A check function: fails with a clear message unless ``fn`` is callable."""

    def check() -> str | None:
        if not callable(fn):
            return (
                f"expected a function, got {type(fn).__name__}; "
                f"pass `{name}` itself, without calling it"
            )
        return None

    return check


def function_check(fn: object, name: str) -> Check:
    """A check that the learner passed a function (``name``) and not, say, its result."""
    return (f"{name} is a function", is_function(fn, name))


@contextmanager
def sandbox(seed: int) -> Iterator[None]:
    """Run a checker's block reproducibly without disturbing the learner's session.

    Inside: torch seeded with ``seed`` and one CPU thread (the checkers' models are
    tiny: fastest, and bit-identical everywhere). Afterwards torch's, Python's and
    NumPy's random states, the grad switch and the thread count are as before.
    """
    import numpy as np
    import torch

    py_state, np_state = random.getstate(), np.random.get_state()
    grad_enabled = torch.is_grad_enabled()
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
            torch.set_grad_enabled(grad_enabled)
            random.setstate(py_state)
            np.random.set_state(np_state)
