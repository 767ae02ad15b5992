"""Checkers for notebook 05 · from logits to labels.

* :func:`check_exercise_1`: ``to_labels(logits, threshold=0.5)`` turns binary
  (``(N,)`` or ``(N, 1)``) or multi-class (``(N, K)``) logits into long labels
  of shape ``(N,)``
* :func:`check_exercise_2`: ``f1_at(threshold, probs, targets)``, the F1 score
  at a threshold, 0 when nothing is predicted positive, whatever the shapes
* :func:`check_exercise_3`: ``binary_loss(logits, targets)``, binary
  cross-entropy from logits that accepts ``(N,)``/``(N, 1)`` and float, long or
  bool targets, and stays exact for huge logits

Every checker uses its own hidden logits and targets (made with a private
random generator, so calling a checker does not change the random numbers the
rest of the notebook sees), not the notebook's data.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from ._core import CheckResult, run_checks
from ._core import is_function as _is_function

__all__ = ["check_exercise_1", "check_exercise_2", "check_exercise_3"]

_SEED = 505


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(_SEED)


# ---------------------------------------------------------------------------
# Exercise 1: to_labels
# ---------------------------------------------------------------------------


def _hidden_logits() -> dict[str, torch.Tensor]:
    """Binary and multi-class logits with no ties, large values included."""
    g = _generator()
    binary = torch.randn(40, 1, generator=g) * 3
    binary[:4, 0] = torch.tensor([35.0, -35.0, 0.3, -0.3])  # saturated and near-zero logits
    return {
        "binary_column": binary,
        "binary_flat": torch.randn(30, generator=g) * 2,
        "four_classes": (torch.randn(25, 4, generator=g) * 2).requires_grad_(),
        "two_classes": torch.randn(20, 2, generator=g),
    }


def _expected_labels(logits: torch.Tensor, threshold: float) -> torch.Tensor:
    if logits.ndim == 1 or logits.shape[1] == 1:
        return (torch.sigmoid(logits.detach().reshape(-1)) >= threshold).long()
    return logits.detach().argmax(dim=1)


def check_exercise_1(to_labels: Callable[..., torch.Tensor]) -> CheckResult:
    """Check ``to_labels(logits, threshold=0.5)`` on hidden binary and multi-class logits."""
    cases = _hidden_logits()

    def expect(name: str, what: str, threshold: float | None = None) -> Callable[[], object]:
        def check() -> object:
            logits = cases[name]
            before = logits.detach().clone()
            t = 0.5 if threshold is None else threshold
            got = to_labels(logits) if threshold is None else to_labels(logits, threshold)
            if not torch.equal(logits.detach(), before):
                return f"on {what} your function changed the logits in place; compute new tensors instead"
            if not isinstance(got, torch.Tensor):
                return f"on {what} you returned a {type(got).__name__}; return a torch.Tensor"
            n = logits.shape[0]
            if tuple(got.shape) != (n,):
                return (
                    f"on {what} (logits of shape {tuple(logits.shape)}) you returned shape "
                    f"{tuple(got.shape)}; labels must have shape ({n},), one per sample "
                    "(flatten a (N, 1) result with .reshape(-1))"
                )
            if got.dtype != torch.long:
                return f"on {what} you returned dtype {got.dtype}; labels are class indices: use .long()"
            expected = _expected_labels(logits, t)
            if torch.equal(got, expected):
                return None
            wrong = int((got != expected).sum())
            binary = logits.ndim == 1 or logits.shape[1] == 1
            if binary and torch.equal(got, (logits.reshape(-1) >= t).long()):
                return (
                    f"on {what} you compared the logits with the threshold {t}; the threshold is a "
                    "probability, so compare torch.sigmoid(logits) with it"
                )
            if binary and threshold is not None and torch.equal(got, _expected_labels(logits, 0.5)):
                return f"on {what} you ignored the threshold {t} (your labels are those of 0.5)"
            if not binary:
                return (
                    f"on {what} {wrong} of {n} labels are wrong; with {logits.shape[1]} logits per "
                    "sample the label is the index of the largest one (argmax over dim=1)"
                )
            return f"on {what} {wrong} of {n} labels are wrong"

        return check

    return run_checks(
        "1 (to_labels)",
        [
            ("to_labels is a function", _is_function(to_labels, "to_labels")),
            ("binary logits of shape (N, 1)", expect("binary_column", "binary logits (N, 1)")),
            ("binary logits of shape (N,)", expect("binary_flat", "binary logits (N,)")),
            (
                "binary logits with threshold 0.8",
                expect("binary_column", "binary logits with threshold=0.8", threshold=0.8),
            ),
            ("four-class logits (N, 4)", expect("four_classes", "four-class logits")),
            ("two-class logits (N, 2)", expect("two_classes", "two-class logits (N, 2)")),
        ],
        hint=(
            "one logit per sample (shape (N,) or (N, 1)): (torch.sigmoid(logits) >= threshold), "
            "flattened with .reshape(-1) and made .long(); K logits per sample: logits.argmax(dim=1)."
        ),
    )


# ---------------------------------------------------------------------------
# Exercise 2: f1_at
# ---------------------------------------------------------------------------


def _hidden_scores() -> tuple[torch.Tensor, torch.Tensor]:
    """60 overlapping probabilities (class 1 higher on average) and float 0/1 targets."""
    g = _generator()
    targets = (torch.rand(60, generator=g) < 0.4).float()
    logits = torch.randn(60, generator=g) * 1.5 + 1.2 * (2 * targets - 1)
    return torch.sigmoid(logits), targets


def _as_number(value: object, what: str) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise AssertionError(
                f"on {what} you returned a tensor of shape {tuple(value.shape)}; return one number "
                "(did a (N, 1) and a (N,) tensor broadcast to (N, N)?)"
            )
        return float(value.item())
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    raise AssertionError(f"on {what} you returned {value!r}; return a float such as 0.75")


def check_exercise_2(f1_at: Callable[[float, torch.Tensor, torch.Tensor], float]) -> CheckResult:
    """Check ``f1_at(threshold, probs, targets)`` against scikit-learn on hidden scores."""
    probs, targets = _hidden_scores()
    y = targets.long().numpy()

    def reference(threshold: float) -> dict[str, float]:
        pred = (probs >= threshold).long().numpy()
        kw = {"zero_division": 0}
        return {
            "F1": f1_score(y, pred, **kw),
            "precision": precision_score(y, pred, **kw),
            "recall": recall_score(y, pred, **kw),
            "accuracy": accuracy_score(y, pred),
        }

    def expect(threshold: float, what: str, p: torch.Tensor, t: torch.Tensor) -> Callable[[], object]:
        def check() -> object:
            got = _as_number(f1_at(threshold, p, t), what)
            if math.isnan(got):
                return (
                    f"on {what} you returned nan: when nothing is predicted positive, precision is "
                    "0/0; define F1 as 0 in that case"
                )
            ref = reference(threshold)
            if abs(got - ref["F1"]) < 1e-6:
                return None
            for name in ("precision", "recall", "accuracy"):
                if abs(got - ref[name]) < 1e-6 and abs(ref[name] - ref["F1"]) > 1e-6:
                    return f"on {what} you returned {got:.4f}, which is the {name}; F1 is {ref['F1']:.4f}"
            message = f"on {what} you returned {got:.4f}, expected F1 = {ref['F1']:.4f}"
            if p.shape != t.shape:
                message += (
                    f" (probabilities {tuple(p.shape)} and targets {tuple(t.shape)}: did a comparison "
                    "broadcast to an (N, N) matrix? Flatten both with .reshape(-1))"
                )
            return message

        return check

    above_all = float(probs.max()) + 0.01
    return run_checks(
        "2 (f1_at)",
        [
            ("f1_at is a function", _is_function(f1_at, "f1_at")),
            ("threshold 0.5, shapes (N,)", expect(0.5, "threshold 0.5", probs, targets)),
            ("threshold 0.3", expect(0.3, "threshold 0.3", probs, targets)),
            ("threshold 0.75", expect(0.75, "threshold 0.75", probs, targets)),
            (
                "nothing predicted positive",
                expect(above_all, f"threshold {above_all:.2f} (above every probability)", probs, targets),
            ),
            (
                "targets of shape (N, 1), probabilities of shape (N,)",
                expect(0.5, "targets of shape (N, 1)", probs, targets.unsqueeze(1)),
            ),
            (
                "probabilities of shape (N, 1), long targets of shape (N,)",
                expect(0.4, "probabilities (N, 1) with long targets", probs.unsqueeze(1), targets.long()),
            ),
        ],
        hint=(
            "flatten both with .reshape(-1) first; pred = probs >= threshold; count TP, FP, FN; "
            "F1 = 2*TP / (2*TP + FP + FN), and 0 when that denominator is 0. Return .item()."
        ),
    )


# ---------------------------------------------------------------------------
# Exercise 3: binary_loss
# ---------------------------------------------------------------------------


def _reference_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    z = logits.detach().double().reshape(-1)
    y = targets.double().reshape(-1)
    return (torch.clamp(z, min=0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean()


def check_exercise_3(binary_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Check ``binary_loss(logits, targets)`` for shapes, dtypes, huge logits and gradients."""
    g = _generator()
    moderate = torch.randn(32, 1, generator=g) * 2
    moderate_targets = (torch.rand(32, 1, generator=g) < 0.5).float()
    huge = torch.tensor([[30.0], [-30.0], [60.0], [-150.0], [200.0], [2.0]])
    huge_targets = torch.tensor([[0.0], [1.0], [0.0], [1.0], [1.0], [0.0]])

    def expect(logits: torch.Tensor, targets: torch.Tensor, what: str) -> Callable[[], object]:
        def check() -> object:
            z = logits.clone().requires_grad_()
            loss = binary_loss(z, targets.clone())
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
                return f"on {what} you returned {shape}; return the mean loss as a one-element tensor"
            got = loss.item()
            ref = _reference_loss(logits, targets).item()
            if abs(got - ref) <= 1e-4 * max(1.0, abs(ref)):
                return None
            y = targets.float().reshape(-1)
            flat = logits.reshape(-1)
            double = F.binary_cross_entropy_with_logits(torch.sigmoid(flat), y).item()
            saturating = F.binary_cross_entropy(torch.sigmoid(flat), y).item()
            if abs(got - double) < 1e-5:
                return (
                    f"on {what} your loss is {got:.4f}, expected {ref:.4f}: you applied a sigmoid "
                    "before BCEWithLogitsLoss (a double sigmoid); pass the raw logits"
                )
            if abs(got - saturating) < 1e-4 * max(1.0, abs(saturating)):
                return (
                    f"on {what} your loss is {got:.4f}, expected {ref:.4f}: BCELoss on sigmoid "
                    "outputs breaks when the sigmoid rounds to exactly 0 or 1; use the logits"
                )
            return f"on {what} your loss is {got:.4f}, expected {ref:.4f}"

        return check

    def gradient_flows() -> object:
        z = moderate.clone().requires_grad_()
        loss = binary_loss(z, moderate_targets)
        if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
            return "the loss carries no gradient; do not call .item(), .detach() or use no_grad inside"
        loss.backward()
        expected = (torch.sigmoid(moderate) - moderate_targets) / moderate.numel()
        if z.grad is None or not torch.allclose(z.grad, expected, atol=1e-6):
            return "the gradient with respect to the logits is not (sigmoid(z) - y) / N"
        return None

    return run_checks(
        "3 (binary_loss)",
        [
            ("binary_loss is a function", _is_function(binary_loss, "binary_loss")),
            ("logits (N, 1), float targets (N, 1)", expect(moderate, moderate_targets, "float targets (N, 1)")),
            (
                "logits (N, 1), long targets (N,)",
                expect(moderate, moderate_targets.reshape(-1).long(), "long targets of shape (N,)"),
            ),
            (
                "logits (N,), bool targets (N,)",
                expect(moderate.reshape(-1), moderate_targets.reshape(-1).bool(), "logits (N,) with bool targets"),
            ),
            ("huge logits such as 60 and -150", expect(huge, huge_targets, "huge logits")),
            ("the gradient reaches the logits", gradient_flows),
        ],
        hint=(
            "make the targets match the logits: targets.reshape(logits.shape).float(); then "
            "nn.functional.binary_cross_entropy_with_logits(logits, targets) on the raw logits."
        ),
    )
