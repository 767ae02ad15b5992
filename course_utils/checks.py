"""Input checks shared by the whole package: one place, one wording.

Every public function of :mod:`course_utils` validates its arguments once, at
its entry, with the checks below, and then hands validated values to private
helpers that trust them. A check returns the value normalised (a Python
``int`` or ``float``, a NumPy array, the tensor itself) or raises an error that
names the argument, says what it must be and what it got::

    check_int("grid_resolution", 1, 2, 1000)
    # ValueError: grid_resolution must be between 2 and 1000, got 1
    check_number("lr", "0.1", 1e-4, 1.0)
    # TypeError: lr must be a number between 0.0001 and 1.0, got '0.1'
    check_choice("mode", "test", ["eval", "train"])
    # ValueError: mode must be one of ['eval', 'train'], got 'test'

A wrong type is a ``TypeError`` and a value out of range a ``ValueError``;
callers whose errors have always been ``ValueError`` for both pass
``type_error=ValueError``. ``bool`` is never a number here (``True`` is an
``int`` to Python, but never a count or a rate to a learner), and NaN is out
of every range. Callers keep their established wording with ``what=`` (the
requirement as the message states it, in place of the generated one),
``kind=`` and ``hint=`` (advice appended to the message).

The module imports neither torch nor NumPy at import time: the checks that need
them import them when they run.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

__all__ = [
    "SEED_MAX",
    "check_int",
    "check_number",
    "check_choice",
    "check_probability",
    "check_threshold",
    "check_seed",
    "check_momentum",
    "check_module",
    "check_real_device",
    "check_logits",
    "check_finite",
    "as_numpy",
    "check_points",
    "check_labels",
    "check_xy",
]

#: The largest seed NumPy and scikit-learn accept (``2**32 - 1``).
SEED_MAX = 2**32 - 1

C = TypeVar("C")


# ---------------------------------------------------------------------------
# Numbers and choices
# ---------------------------------------------------------------------------


def _is_bool(value: object) -> bool:
    """``True``/``False`` and NumPy's ``np.bool_`` (whose class is named ``bool`` too)."""
    return isinstance(value, bool) or type(value).__name__ in ("bool", "bool_")


def _bound(value: float) -> str:
    """A bound as a message shows it: ``2**32 - 1`` rather than ``4294967295``."""
    if isinstance(value, int) and value > 2**16 and (value + 1) & value == 0:
        return f"2**{(value + 1).bit_length() - 1} - 1"
    return str(value)


def _range_text(low: float | None, high: float | None, low_open: bool = False, high_open: bool = False) -> str:
    """``"between 2 and 10"``, ``"in [0, 1)"``, ``">= 0"``...: the valid range in words."""
    if low is not None and high is not None:
        if low_open == high_open:
            return f"between {_bound(low)} and {_bound(high)}" + (" (exclusive)" if low_open else "")
        return f"in {'(' if low_open else '['}{_bound(low)}, {_bound(high)}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {_bound(low)}"
    if high is not None:
        return f"{'<' if high_open else '<='} {_bound(high)}"
    return ""


def _in_range(
    value: float, low: float | None, high: float | None, low_open: bool = False, high_open: bool = False
) -> bool:
    """Whether ``value`` lies in the range (NaN never does)."""
    if isinstance(value, float) and math.isnan(value):
        return False
    if low is not None and (value <= low if low_open else value < low):
        return False
    return not (high is not None and (value >= high if high_open else value > high))


def _checked(
    name: str,
    value: object,
    number: float | None,
    low: float | None,
    high: float | None,
    *,
    low_open: bool,
    high_open: bool,
    kind: str,
    what: str | None,
    hint: str,
    type_error: type[Exception],
) -> None:
    """Raise the type error (``number`` is ``None``) or range error of ``value``, or nothing."""
    rng = _range_text(low, high, low_open, high_open)
    if number is None:
        raise type_error(f"{name} must be {what or f'{kind} {rng}'.strip()}, got {value!r}{hint}")
    if not _in_range(number, low, high, low_open, high_open):
        raise ValueError(f"{name} must be {what or rng}, got {value}{hint}")


def check_int(
    name: str,
    value: object,
    low: int | None = None,
    high: int | None = None,
    *,
    allow_none: bool = False,
    kind: str = "an int",
    what: str | None = None,
    hint: str = "",
    type_error: type[Exception] = TypeError,
) -> int | None:
    """Return ``value`` as a Python ``int``, or raise unless it is a whole number in ``[low, high]``.

    Python and NumPy integers pass; ``bool``, floats (even ``20.0``) and
    strings do not. ``None`` passes (and is returned) only with ``allow_none``.

    Args:
        name: the argument's name, as the caller spells it.
        low, high: the inclusive bounds; ``None`` for no bound.
        kind: what a valid value is called in a type error ("an int", "a whole number").
        what: the whole requirement, used in both errors instead of the generated
            ``"{kind} between {low} and {high}"`` (type) and ``"between ..."`` (range).
        hint: text appended to both messages (what to do).
        type_error: the exception raised for a wrong type.

    Raises:
        TypeError: ``"{name} must be an int between {low} and {high}, got {value!r}"``.
        ValueError: ``"{name} must be between {low} and {high}, got {value}"``.
    """
    if value is None and allow_none:
        return None
    if what is None and allow_none:
        what = f"{kind} {_range_text(low, high)} or None".replace("  ", " ")
    number = int(value) if isinstance(value, numbers.Integral) and not _is_bool(value) else None
    _checked(name, value, number, low, high, low_open=False, high_open=False, kind=kind, what=what,
             hint=hint, type_error=type_error)
    return number


def check_number(
    name: str,
    value: object,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    kind: str = "a number",
    what: str | None = None,
    hint: str = "",
    type_error: type[Exception] = TypeError,
) -> float:
    """Return ``value`` as a Python ``float``, or raise unless it is a real number in the range.

    Python and NumPy ints and floats pass; ``bool``, strings, tensors and NaN do
    not. The range is ``[low, high]``; ``low_open``/``high_open`` exclude a
    bound (``low=0, high=1, high_open=True`` is ``[0, 1)``).

    Args:
        name: the argument's name, as the caller spells it.
        low, high: the bounds; ``None`` for no bound.
        kind, what, hint, type_error: as for :func:`check_int`.

    Raises:
        TypeError: ``"{name} must be a number between {low} and {high}, got {value!r}"``.
        ValueError: ``"{name} must be between {low} and {high}, got {value}"`` (also for NaN).
    """
    number = float(value) if isinstance(value, numbers.Real) and not _is_bool(value) else None
    _checked(name, value, number, low, high, low_open=low_open, high_open=high_open, kind=kind,
             what=what, hint=hint, type_error=type_error)
    return number  # type: ignore[return-value]


def _same_choice(value: object, choice: object) -> bool:
    """``value == choice``, where ``True`` is not ``1`` and arrays compare as unequal."""
    if _is_bool(value) != _is_bool(choice):
        return False
    try:
        return bool(value == choice)
    except (TypeError, ValueError, RuntimeError):  # an array or tensor: no single truth value
        return False


def check_choice(name: str, value: C, choices: Sequence[Any], *, hint: str = "") -> C:
    """Return ``value`` if it is one of ``choices``; else a ``ValueError`` that lists them.

    The choices are shown as given (``repr``): pass a list to show ``['a', 'b']``,
    a tuple to show ``('a', 'b')``. ``True`` does not count as the choice ``1``.
    """
    if not any(_same_choice(value, choice) for choice in choices):
        raise ValueError(f"{name} must be one of {choices!r}, got {value!r}{hint}")
    return value


def check_probability(name: str, value: object, *, hint: str = "") -> float:
    """Return ``value`` as a float in ``[0, 1]``; a one-element tensor counts as its number.

    Raises:
        TypeError: ``"{name} must be a number between 0 and 1, got {value!r}"``.
        ValueError: ``"{name} must be between 0 and 1, got {value}"`` (also for NaN).
    """
    import torch

    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    return check_number(name, value, 0, 1, hint=hint)


def check_threshold(threshold: float) -> float:
    """Return ``threshold`` as a float, or raise if it is not a number in [0, 1].

    The threshold is compared with a probability (after the sigmoid), never with a logit.
    """
    return check_probability(
        "threshold",
        threshold,
        hint=(
            ". It is compared with a probability: to threshold raw logits, use threshold 0.5 "
            "on probabilities (= logit 0)."
        ),
    )


def check_seed(
    seed: object, *, name: str = "seed", high: int | None = SEED_MAX, allow_none: bool = False
) -> int | None:
    """Return ``seed`` as an int in ``[0, high]`` (``high=None``: no upper bound).

    Every error is a ``ValueError``, as from :func:`course_utils.set_seed`:
    ``"seed must be an int from 0 to 2**32 - 1 (for example seed=0), got 'a'"``.
    """
    rule = "a non-negative int" if high is None else f"an int from 0 to {_bound(high)}"
    rule += " or None" if allow_none else ""
    return check_int(name, seed, 0, high, allow_none=allow_none, what=f"{rule} (for example {name}=0)",
                     type_error=ValueError)


def check_momentum(momentum: object, name: str = "momentum") -> float:
    """Return a BatchNorm ``momentum`` as a float in ``(0, 1]``.

    0 is refused with its reason: the running statistics would never move.
    """
    value = check_number(name, momentum, 0.0, 1.0)
    if value <= 0.0:
        raise ValueError(
            f"{name} must be in (0, 1]: with {name}=0 the running statistics never move. "
            "PyTorch's default is 0.1."
        )
    return value


# ---------------------------------------------------------------------------
# Models and tensors
# ---------------------------------------------------------------------------


def check_module(model: object, what: str = "model") -> nn.Module:
    """Return ``model`` if it is an ``nn.Module``, else raise a ``TypeError`` that says so."""
    from torch import nn

    if not isinstance(model, nn.Module):
        raise TypeError(
            f"{what} must be a torch.nn.Module (for example nn.Sequential(...)), "
            f"got {type(model).__name__}. Pass the model object itself, not its output "
            "or its state_dict."
        )
    return model


def check_real_device(tensor: torch.Tensor, what: str) -> torch.Tensor:
    """Raise a ``ValueError`` if ``tensor`` lives on the ``meta`` device (shapes, no values)."""
    if tensor.device.type == "meta":
        raise ValueError(
            f"the tensor passed as {what} is on the 'meta' device, which records shapes but holds no values, so "
            "nothing can be computed from it. Create it on a real device (e.g. device='cpu'); "
            "for a model built on 'meta', call model.to_empty(device='cpu') and load its weights."
        )
    return tensor


def check_logits(logits: object) -> torch.Tensor:
    """Return ``logits`` if it is a floating tensor of shape (N,), (N, 1) or (N, K); else raise.

    NaN logits are refused too: every label computed from them would be meaningless.
    """
    import torch

    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor (the model's output), got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be floating point, got dtype {logits.dtype}")
    if logits.ndim not in (1, 2) or logits.shape[0] == 0:
        raise ValueError(
            f"logits must have shape (N,), (N, 1) or (N, K) with N > 0, got {tuple(logits.shape)}"
        )
    check_real_device(logits, "logits")
    nan = torch.isnan(logits.detach())
    if nan.any():
        rows = nan.reshape(logits.shape[0], -1).any(dim=1)
        raise ValueError(
            f"logits contain NaN in {int(rows.sum())} of {logits.shape[0]} rows (first: row "
            f"{int(rows.nonzero()[0, 0])}), so no label can be computed from them. The model's "
            "training probably diverged (try a smaller learning rate), or its input contains NaN."
        )
    return logits


# ---------------------------------------------------------------------------
# Data: samples in rows (NumPy arrays or torch tensors)
# ---------------------------------------------------------------------------


def check_finite(name: str, values: C, *, fix: str, unit: str = "sample", of_total: bool = True) -> C:
    """Return ``values`` (an array or tensor, one ``unit`` per row) if every entry is finite.

    Otherwise a ``ValueError`` that counts the rows with NaN or infinite values
    ("in 3 of 24 samples", or "in 3 sample(s)" with ``of_total=False``), names
    the first, and ends with ``fix`` (what to do). Integer data pass as they are.
    """
    import numpy as np
    import torch

    if isinstance(values, torch.Tensor):
        if not values.is_floating_point():
            return values
        bad = ~torch.isfinite(values.detach())
        if not bad.any():
            return values
        rows = bad.reshape(values.shape[0], -1).any(dim=1).cpu().numpy()
    else:
        array = np.asarray(values)
        if not np.issubdtype(array.dtype, np.inexact):
            return values
        bad = ~np.isfinite(array)
        if not bad.any():
            return values
        rows = bad.reshape(array.shape[0], -1).any(axis=1)
    count = f"{int(rows.sum())} of {rows.shape[0]} {unit}s" if of_total else f"{int(rows.sum())} {unit}(s)"
    raise ValueError(
        f"{name} contains NaN or infinite values in {count} (first: {unit} {int(np.flatnonzero(rows)[0])}); {fix}"
    )


def as_numpy(name: str, value: object) -> np.ndarray:
    """A NumPy array (as it is) or a torch tensor (on any real device, copied to the CPU) as an array."""
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        return check_real_device(value, name).detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    raise TypeError(
        f"{name} must be a NumPy array or a torch tensor, got {type(value).__name__}. "
        "Convert lists with np.asarray(...) or torch.tensor(...)."
    )


def check_points(X: object, n_features: int = 2, *, who: str, name: str = "X") -> np.ndarray:
    """Points to draw or predict on: a float64 array ``(N, n_features)``, N >= 1, all finite.

    ``X`` may be a NumPy array or a torch tensor on any real device. ``who`` (the
    public function) starts the shape errors, which say how to fix the shape: a
    transposed matrix, the wrong number of features, a 1-D vector.
    """
    import numpy as np

    array = as_numpy(name, X)
    if array.ndim != 2 or array.shape[1] != n_features:
        shape = tuple(array.shape)
        if array.ndim == 2 and array.shape[0] == n_features:
            extra = (
                f": it looks transposed ({n_features} rows, one column per point); pass {name}.T, "
                "one row per point and one column per feature"
            )
        elif array.ndim == 2:
            extra = f": it can only draw {n_features} input features"
        else:
            extra = ": pass one row per point and one column per feature"
        raise ValueError(f"{who} needs {name} of shape (N, {n_features}), got {shape}{extra}.")
    if array.shape[0] == 0:
        raise ValueError(f"{who} needs at least one point, got {name} of shape (0, {n_features}).")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}.")
    array = array.astype(np.float64)
    return check_finite(name, array, unit="row", of_total=False, fix="remove or impute them before plotting.")


def check_labels(y: object, n_points: int, *, name: str = "y") -> np.ndarray:
    """Class labels for ``n_points`` points: an int64 array ``(N,)`` of whole numbers >= 0.

    ``y`` may be a NumPy array or a torch tensor, shape ``(N,)`` or ``(N, 1)``,
    of ints, whole-number floats or bools.
    """
    import numpy as np

    array = as_numpy(name, y)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(
            f"{name} must hold one class label per point, shape (N,) or (N, 1), got {tuple(array.shape)}."
        )
    if array.shape[0] != n_points:
        raise ValueError(
            f"X and {name} must have the same number of points, got {n_points} points in X "
            f"and {array.shape[0]} labels in {name}."
        )
    if array.dtype == bool:
        array = array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must hold class labels (integers), got dtype {array.dtype}.")
    if not np.isfinite(array).all() or not np.all(array == np.round(array)) or (array < 0).any():
        raise ValueError(
            f"{name} must hold class labels 0, 1, ..., K-1 (whole numbers >= 0); "
            "pass the targets, not probabilities or logits."
        )
    return array.astype(np.int64)


def check_xy(X: object, y: object, what: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets to train or evaluate on: two tensors with one sample per row each.

    Both must be torch tensors (NumPy arrays are refused with the conversion to
    use), with at least one sample, the same number of samples, on a real device
    and, if floating point, free of NaN and infinity. ``what`` (e.g. ``"train"``)
    starts every message. Returns ``(X, y)`` unchanged.
    """
    import torch

    prefix = f"{what} " if what else ""
    for name, t in (("X", X), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"{prefix}{name} must be a torch.Tensor, got {type(t).__name__}; "
                "convert with torch.tensor(...) or torch.from_numpy(...)"
            )
    if X.ndim == 0 or y.ndim == 0 or X.shape[0] == 0:
        raise ValueError(
            f"{prefix}X and y need a first (batch) dimension with at least one sample, "
            f"got shapes {tuple(X.shape)} and {tuple(y.shape)}"
        )
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"{prefix}X and y must have the same number of samples (first dimension), "
            f"got {X.shape[0]} and {y.shape[0]}"
        )
    check_real_device(X, f"{prefix}X")
    check_real_device(y, f"{prefix}y")
    fix = "remove those samples from X and y, or fill in the missing values, before training"
    check_finite(f"{prefix}X", X, fix=fix)
    check_finite(f"{prefix}y", y, fix=fix)
    return X, y
