"""Checkers for notebook 05 · from logits to labels.

* :func:`check_exercise_1`: ``to_labels(logits, threshold=0.5)`` for outputs of
  shape ``(N, C, d1, d2, ...)`` (a classifier, a segmentation model, a model
  that labels every step of a sequence): ``C == 1`` is one binary logit per
  position (``sigmoid >= threshold``), ``C >= 2`` the logits of ``C`` classes
  (the largest wins); labels of shape ``(N, d1, d2, ...)``
* :func:`check_exercise_2`: ``best_threshold(probs, targets) -> (threshold, f1)``,
  a threshold with the highest F1 of all thresholds, and that F1
* :func:`check_exercise_3`: ``evaluate(model, X, y) -> {"loss": ..., "accuracy": ...}``,
  the repaired version of the notebook's buggy evaluation function: eval mode,
  no autograd graph, every module's mode restored (also when the forward pass
  raises), the loss from the logits and an accuracy that does not broadcast

Every checker uses its own hidden tensors and models (made with a private
random generator inside :func:`~course_utils.exercises._core.sandbox`), so
calling a checker does not change the random numbers the notebook sees.
Failure messages say what the answer did and what was expected, never the code.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ._core import CheckResult, function_check, run_checks, sandbox

__all__ = ["check_exercise_1", "check_exercise_2", "check_exercise_3"]

_SEED = 505


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(_SEED)


def _shape(value: object) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__


# ---------------------------------------------------------------------------
# Exercise 5.1: to_labels for any output shape
# ---------------------------------------------------------------------------


def _label_cases() -> dict[str, torch.Tensor]:
    """Hidden logits: classifiers, segmentation maps, sequences, edge sizes; no ties in argmax."""
    g = _generator()
    binary = torch.randn(10, 1, generator=g) * 3
    binary[:4, 0] = torch.tensor([0.0, 35.0, -35.0, 0.3])  # exactly on the 0.5 boundary, saturated, close
    seg_binary = torch.randn(4, 1, 5, 6, generator=g) * 3
    seg_binary[0, 0, 0, :3] = torch.tensor([0.0, 35.0, -35.0])
    return {
        "classifier": (torch.randn(12, 4, generator=g) * 2).requires_grad_(),
        "binary": binary,
        "segmentation": torch.randn(3, 3, 5, 6, generator=g) * 2,
        "binary_segmentation": seg_binary,
        "sequence": torch.randn(5, 2, 7, generator=g),
        "one_image": torch.randn(1, 1, 5, 6, generator=g) * 2,
        "one_sample": torch.tensor([[0.7]]),
        "one_row": torch.randn(3, 1, 1, 6, generator=g) * 2,
        "one_multi": torch.tensor([[0.3, -1.2, 2.1, 0.4]]),
        "one_row_multi": torch.randn(3, 3, 1, 6, generator=g) * 2,
        "empty": torch.zeros(0, 3, 5, 6),
    }


def _expected_labels(logits: torch.Tensor, threshold: float) -> torch.Tensor:
    z = logits.detach()
    if z.shape[1] == 1:
        return (torch.sigmoid(z[:, 0]) >= threshold).long()
    return z.argmax(dim=1)


def _shape_problem(logits: torch.Tensor, got: torch.Tensor, what: str) -> str:
    shape, expected = tuple(logits.shape), (logits.shape[0], *logits.shape[2:])
    message = f"on {what} (logits of shape {shape}) you returned shape {tuple(got.shape)}; expected {expected}"
    if tuple(got.shape) == shape:
        return message + ": the class axis (axis 1) is still there; one label per position replaces it"
    if tuple(got.shape) == shape[:-1] and len(shape) > 2:
        return message + ": you reduced the last axis, but the classes are on axis 1"
    if got.numel() == math.prod(expected) and tuple(got.shape) == tuple(d for d in expected if d != 1):
        return (
            message + ": besides the class axis, every other axis of size 1 vanished too (a batch of one, "
            "or an image one pixel high); only axis 1 may go"
        )
    if got.ndim == 1 and len(expected) > 1:
        return message + ": all axes were flattened into one; keep the batch axis and the position axes"
    return message + ": one label per sample and position, the class axis removed"


def check_exercise_1(to_labels: Callable[..., torch.Tensor]) -> CheckResult:
    """Check ``to_labels(logits, threshold=0.5)`` on hidden outputs of several shapes."""
    cases = _label_cases()

    def expect(name: str, what: str, threshold: float | None = None) -> Callable[[], object]:
        def check() -> object:
            logits = cases[name]
            before = logits.detach().clone()
            t = 0.5 if threshold is None else threshold
            got = to_labels(logits) if threshold is None else to_labels(logits, threshold)
            if not torch.equal(logits.detach(), before):
                return f"on {what} your function changed the logits it was given; it must leave them as they were"
            if not isinstance(got, torch.Tensor):
                return f"on {what} you returned a {type(got).__name__}; return a tensor of labels"
            expected = _expected_labels(logits, t)
            if tuple(got.shape) != tuple(expected.shape):
                return _shape_problem(logits, got, what)
            if got.dtype != torch.long:
                return (
                    f"on {what} your labels have dtype {got.dtype}; labels are class indices, dtype "
                    "torch.int64 (long), what CrossEntropyLoss and comparisons with targets expect"
                )
            if torch.equal(got, expected):
                return None
            wrong, n = int((got != expected).sum()), expected.numel()
            z = logits.detach()
            if z.shape[1] != 1:
                if torch.equal(got, z.argmin(dim=1)):
                    return f"on {what} every label is the class with the smallest logit; the largest one wins"
                return (
                    f"on {what} {wrong} of {n} labels are wrong; with {z.shape[1]} classes the label of a "
                    "position is the class (along axis 1) with the largest logit"
                )
            p = torch.sigmoid(z[:, 0])
            if torch.equal(got, (z[:, 0] >= t).long()):
                return (
                    f"on {what} your labels are those of the logits compared with {t}; the threshold is a "
                    "probability, so it applies after the sigmoid"
                )
            differs = got != expected
            if bool((p[differs] == t).all()):
                logit = z[:, 0][differs][0].item()
                return (
                    f"on {what} a position whose probability is exactly the threshold {t} (logit {logit:g}, "
                    f"sigmoid {p[differs][0].item():g} in float32) got label 0; the rule is "
                    "probability >= threshold, so it is class 1"
                )
            if threshold is not None and torch.equal(got, _expected_labels(z, 0.5)):
                return f"on {what} your labels are those of threshold 0.5; the threshold {t} was ignored"
            return f"on {what} {wrong} of {n} labels are wrong"

        return check

    return run_checks(
        "5.1 (to_labels)",
        [
            function_check(to_labels, "to_labels"),
            ("a 4-class classifier, logits (N, 4)", expect("classifier", "4-class logits (N, 4)")),
            ("a binary classifier, logits (N, 1)", expect("binary", "binary logits (N, 1)")),
            ("3-class segmentation, logits (N, 3, H, W)", expect("segmentation", "3-class segmentation logits")),
            ("binary segmentation, logits (N, 1, H, W)", expect("binary_segmentation", "binary segmentation logits")),
            ("2 classes per time step, logits (N, 2, L)", expect("sequence", "sequence logits (N, 2, L)")),
            ("a batch of one image, logits (1, 1, H, W)", expect("one_image", "a batch of one image")),
            ("a batch of one sample, logits (1, 1)", expect("one_sample", "a batch of one sample (1, 1)")),
            ("images one pixel high, logits (N, 1, 1, W)", expect("one_row", "images one pixel high")),
            ("a batch of one, 4 classes, logits (1, 4)", expect("one_multi", "a batch of one sample with 4 classes")),
            (
                "3 classes, images one pixel high, logits (N, 3, 1, W)",
                expect("one_row_multi", "3-class images one pixel high"),
            ),
            ("an empty batch, logits (0, 3, H, W)", expect("empty", "an empty batch")),
            ("threshold 0.8", expect("binary_segmentation", "binary segmentation at threshold 0.8", 0.8)),
            (
                "threshold 1.0 and a logit of 35 (sigmoid rounds to 1.0)",
                expect("binary", "binary logits at threshold 1.0", 1.0),
            ),
        ],
        hint=(
            "the classes sit on axis 1 whatever follows it, and every other axis, even one of size 1, "
            "stays in the labels. Which operations you used so far pick their axis by position from "
            "the end, or drop every axis of size 1?"
        ),
    )


# ---------------------------------------------------------------------------
# Exercise 5.2: best_threshold
# ---------------------------------------------------------------------------


def _f1(predicted: torch.Tensor, truth: torch.Tensor) -> float:
    tp = int((predicted & truth).sum())
    fp = int((predicted & ~truth).sum())
    fn = int((~predicted & truth).sum())
    denominator = 2 * tp + fp + fn
    return 2 * tp / denominator if denominator else 0.0


def _best_f1(probs: torch.Tensor, truth: torch.Tensor) -> float:
    """Highest F1 over every threshold: each distinct probability gives each possible labelling."""
    return max([0.0, *(_f1(probs >= t, truth) for t in probs.unique())])


def _threshold_cases() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    g = _generator()
    targets = (torch.rand(60, generator=g) < 0.4).float()
    probs = torch.sigmoid(torch.randn(60, generator=g) * 1.5 + 1.2 * (2 * targets - 1))
    packed_targets = torch.tensor([0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1.0])
    packed = 0.4001 + 0.0008 * torch.arange(12.0)  # every probability between 0.40 and 0.41
    wrong_on_top = torch.tensor([0.95, 0.9, 0.85, 0.6, 0.55, 0.4, 0.3, 0.2])
    wrong_on_top_targets = torch.tensor([0, 0, 0, 1, 1, 0, 1, 0.0])
    saturated = torch.tensor([1.0, 1.0, 1.0, 0.9999999, 0.9, 0.7, 0.2])  # float32 sigmoid of logits >= 17 is 1.0
    saturated_targets = torch.tensor([1, 1, 1, 0, 0, 0, 0.0])
    return {
        "overlapping": (probs, targets),
        "column": (probs.unsqueeze(1), targets.long()),
        "packed": (packed, packed_targets),
        "wrong_on_top": (wrong_on_top, wrong_on_top_targets),
        "no_positives": (probs[:20], torch.zeros(20)),
        "saturated": (saturated.unsqueeze(1), saturated_targets.unsqueeze(1)),
        "one": (torch.tensor([[0.7]]), torch.tensor([1.0])),
        "tie": (torch.tensor([1.0, 1.0, 0.5]), torch.tensor([1, 0, 0.0])),
    }


def _real_number(value: object, name: str, what: str) -> float:
    if isinstance(value, torch.Tensor):
        raise AssertionError(
            f"on {what} the {name} you returned is a tensor {_shape(value)}; return plain Python numbers "
            "(floats), the form a report or a config file takes"
        )
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise AssertionError(f"on {what} the {name} you returned is {value!r}; return a float")
    number = float(value)
    if math.isnan(number):
        raise AssertionError(
            f"on {what} the {name} you returned is nan; where no predicted 1 is really 1 (TP = 0), "
            "precision and recall are 0 and F1 counts as 0, not as 0/0"
        )
    return number


def check_exercise_2(best_threshold: Callable[[torch.Tensor, torch.Tensor], tuple[float, float]]) -> CheckResult:
    """Check ``best_threshold(probs, targets) -> (threshold, f1)`` on hidden scores."""
    cases = _threshold_cases()

    def expect(name: str, what: str) -> Callable[[], object]:
        def check() -> object:
            probs, targets = cases[name]
            before = (probs.clone(), targets.clone())
            try:
                got = best_threshold(probs, targets)
            except ZeroDivisionError as exc:
                return (
                    f"on {what} your code divided by zero ({exc}); at a threshold where TP = 0, precision "
                    "and recall are 0 and F1 counts as 0"
                )
            if not (torch.equal(probs, before[0]) and torch.equal(targets, before[1])):
                return f"on {what} your function changed the tensors it was given (sorted them in place?)"
            if not isinstance(got, tuple | list) or len(got) != 2:
                return f"on {what} you returned {type(got).__name__} {got!r:.60}; return a pair (threshold, f1)"
            threshold = _real_number(got[0], "threshold", what)
            f1 = _real_number(got[1], "F1", what)
            if not 0.0 <= threshold <= 1.0:
                return f"on {what} your threshold is {threshold:g}; a threshold on probabilities lies in [0, 1]"
            p, truth = probs.reshape(-1), targets.reshape(-1) == 1
            at_yours = _f1(p >= threshold, truth)
            if abs(f1 - at_yours) > 1e-6:
                if abs(f1 - _f1(p > threshold, truth)) < 1e-6:
                    return (
                        f"on {what} you reported F1 {f1:.4f}, the F1 of the samples strictly above your "
                        f"threshold {threshold:.6g}; samples exactly at the threshold are class 1 "
                        f"(probability >= threshold), which gives F1 {at_yours:.4f}"
                    )
                message = (
                    f"on {what} at your threshold {threshold:.6g} the labels probability >= threshold give "
                    f"F1 {at_yours:.4f}, but you reported {f1:.4f}"
                )
                tied = int((p == threshold).sum())
                if tied > 1:
                    message += (
                        f": {tied} samples have exactly that probability, and one threshold gives them all "
                        "the same label; you cannot count some of them as 1 and the others as 0"
                    )
                return message
            best = _best_f1(p, truth)
            if at_yours < best - 1e-6:
                message = (
                    f"on {what} your threshold {threshold:.6g} gives F1 {at_yours:.4f}, but the best threshold "
                    f"on this data gives {best:.4f}: some threshold you did not try does better"
                )
                if probs.shape != targets.shape:
                    message += (
                        f" (probabilities {_shape(probs)} and targets {_shape(targets)}: if they met in one "
                        "comparison, broadcasting compared every sample with every target)"
                    )
                return message
            return None

        return check

    with sandbox(_SEED):
        return run_checks(
            "5.2 (best_threshold)",
            [
                function_check(best_threshold, "best_threshold"),
                ("overlapping scores, shapes (N,)", expect("overlapping", "overlapping scores")),
                ("probabilities (N, 1), long targets (N,)", expect("column", "probabilities (N, 1) with long targets")),
                (
                    "every probability between 0.40 and 0.41",
                    expect("packed", "probabilities packed between 0.40 and 0.41"),
                ),
                (
                    "the most confident samples are all class 0",
                    expect("wrong_on_top", "scores whose most confident samples are class 0"),
                ),
                ("no sample of class 1", expect("no_positives", "targets without a single 1")),
                (
                    "probabilities that rounded to exactly 1.0",
                    expect("saturated", "probabilities of which three are exactly 1.0"),
                ),
                ("a batch of one", expect("one", "a batch of one sample")),
                (
                    "two samples tied at 1.0, one of each class",
                    expect("tie", "probabilities [1.0, 1.0, 0.5] with targets [1, 0, 0]"),
                ),
            ],
            hint=(
                "only the thresholds at which some label changes matter, and between two neighbouring "
                "probabilities nothing changes. A sample exactly at the threshold is class 1. Count TP, FP "
                "and FN and write F1 with those counts, so a threshold with no true positive gives 0."
            ),
        )


# ---------------------------------------------------------------------------
# Exercise 5.3: evaluate (the repaired buggy_evaluate)
# ---------------------------------------------------------------------------


class _Net(nn.Module):
    """Linear -> BatchNorm -> ReLU -> Dropout -> Linear(1): a binary model whose output depends on the mode."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(16, 1)
        self.fail = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.body(x)
        if self.fail:
            raise RuntimeError("this forward pass fails on purpose (the checker's test)")
        return self.head(hidden)


def _net() -> _Net:
    """A fresh model with running statistics far from the checker's data (created inside the sandbox)."""
    net = _Net()
    with torch.no_grad():
        for _ in range(20):
            net(torch.randn(64, 3) * 2 + 1.5)  # train-mode passes fill the running statistics
    return net.train()


def _evaluation_data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 3)
    y = ((x[:, 0] - 0.5 * x[:, 1] + 0.3 * torch.randn(n)) > 0).float().unsqueeze(1)
    return x, y


def _flags(model: nn.Module) -> dict[str, bool]:
    return {name or "the model": m.training for name, m in model.named_modules()}


def _mode_changes(before: dict[str, bool], after: dict[str, bool]) -> str:
    def mode(flag: bool) -> str:
        return "train" if flag else "eval"

    changed = [f"{name} {mode(before[name])} -> {mode(after[name])}" for name in before if before[name] != after[name]]
    shown = ", ".join(changed[:3]) + (", ..." if len(changed) > 3 else "")
    return f"{len(changed)} module(s) changed mode ({shown})"


def _reference(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """The right loss and accuracy, and what the classic slips give, on a copy in eval mode."""
    twin = copy.deepcopy(model).eval()
    with torch.no_grad():
        logits = twin(x)
    targets = y.reshape(logits.shape).float()
    probs = torch.sigmoid(logits)
    labels = (probs >= 0.5).float()
    return {
        "loss": F.binary_cross_entropy_with_logits(logits, targets).item(),
        "accuracy": (labels == targets).float().mean().item(),
        "double_sigmoid": F.binary_cross_entropy_with_logits(probs, targets).item(),
        "loss_of_probabilities": F.binary_cross_entropy(probs, targets).item(),
        "broadcast": (labels.reshape(-1, 1) == targets.reshape(1, -1)).float().mean().item(),
        "logit_threshold": ((logits >= 0.5).float() == targets).float().mean().item(),
        "strict": ((probs > 0.5).float() == targets).float().mean().item(),
    }


def _result(got: object, what: str) -> tuple[float, float]:
    if not isinstance(got, dict) or not {"loss", "accuracy"} <= set(got):
        keys = sorted(got) if isinstance(got, dict) else type(got).__name__
        raise AssertionError(f"on {what} you returned {keys}; return a dict with the keys 'loss' and 'accuracy'")
    return _real_number(got["loss"], "loss", what), _real_number(got["accuracy"], "accuracy", what)


def check_exercise_3(evaluate: Callable[[nn.Module, torch.Tensor, torch.Tensor], dict]) -> CheckResult:
    """Check ``evaluate(model, X, y)`` on a hidden model with BatchNorm and dropout."""

    def spied(model: nn.Module) -> tuple[list[tuple[str, bool, bool]], Callable[[], None]]:
        """Record, for every module's forward pass, (name, its mode, grad tracking on)."""
        seen: list[tuple[str, bool, bool]] = []
        handles = [
            m.register_forward_pre_hook(
                lambda mod, args, name=name: seen.append((name or "the model", mod.training, torch.is_grad_enabled()))
            )
            for name, m in model.named_modules()
        ]
        return seen, lambda: [h.remove() for h in handles]

    def forward_pass(what: str, flag: int) -> Callable[[], object]:
        def check() -> object:
            model = _net()
            x, y = _evaluation_data(40)
            seen, remove = spied(model)
            try:
                evaluate(model, x, y)
            finally:
                remove()
            if not seen:
                return "your function never ran the model's forward pass"
            if flag == 1:
                in_train = sorted({name for name, training, _ in seen if training})
                if in_train:
                    return (
                        f"{what}: during your forward pass {len(in_train)} module(s) were in train mode "
                        f"({', '.join(in_train[:3])}): dropout drops units and BatchNorm uses the batch's own "
                        "statistics, so the numbers describe a randomly thinned model, not the one you would ship"
                    )
            elif any(grad for _, _, grad in seen):
                return (
                    f"{what}: the forward pass ran with gradient tracking on, so autograd recorded a graph "
                    "that evaluation never uses (detaching the result afterwards does not undo that)"
                )
            return None

        return check

    def values(
        what: str, reshape_y: Callable[[torch.Tensor], torch.Tensor], n: int = 40, confident: bool = False,
        undecided: bool = False,
    ) -> Callable[[], object]:
        def check() -> object:
            model = _net().eval()
            x, y = _evaluation_data(n)
            if undecided:  # every logit exactly 0: P = 0.5 on the threshold, class 1 by the course's rule
                with torch.no_grad():
                    model.head.weight.zero_()
                    model.head.bias.zero_()
            if confident:  # logits centred on 0 with spread 40: many beyond 17, where float32 sigmoid is 1.0
                with torch.no_grad():
                    z = model(x)
                    scale = 40.0 / z.std()
                    model.head.weight.mul_(scale)
                    model.head.bias.mul_(scale).sub_(z.median() * scale)
            y = reshape_y(y)
            ref = _reference(model, x, y)
            loss, accuracy = _result(evaluate(model, x, y.clone()), what)
            if abs(loss - ref["loss"]) > 1e-4 * max(1.0, abs(ref["loss"])):
                if abs(loss - ref["double_sigmoid"]) < 1e-4:
                    return (
                        f"on {what} your loss is {loss:.4f}: BCEWithLogitsLoss was given probabilities, so the "
                        f"sigmoid was applied twice; the loss of these logits is {ref['loss']:.4f}"
                    )
                if abs(loss - ref["loss_of_probabilities"]) < 1e-4 * max(1.0, abs(loss)):
                    return (
                        f"on {what} your loss is {loss:.4f}, the binary cross-entropy of the probabilities: "
                        "where a logit is beyond about 17, sigmoid rounds to exactly 1.0 in float32, the log of "
                        f"0 is clamped, and the loss is wrong; computed from the logits it is {ref['loss']:.4f}"
                    )
                return f"on {what} your loss is {loss:.4f}, expected {ref['loss']:.4f}"
            if abs(accuracy - ref["accuracy"]) > 1e-6:
                if abs(accuracy - ref["broadcast"]) < 1e-6 and n > 1:
                    return (
                        f"on {what} your accuracy is {accuracy:.4f}, the mean of an {n}x{n} table: labels and "
                        f"targets of different shapes were broadcast, every label compared with every target; "
                        f"expected {ref['accuracy']:.4f}"
                    )
                if abs(accuracy - ref["strict"]) < 1e-6:
                    return (
                        f"on {what} your accuracy is {accuracy:.4f}: the samples at P = 0.5 exactly (logit 0) "
                        f"were labelled 0; the rule is P >= 0.5 means class 1, expected {ref['accuracy']:.4f}"
                    )
                if abs(accuracy - ref["logit_threshold"]) < 1e-6:
                    return (
                        f"on {what} your accuracy is {accuracy:.4f}, that of labels from the logits compared "
                        f"with 0.5; 0.5 is a threshold on the probability (logit 0), expected {ref['accuracy']:.4f}"
                    )
                return f"on {what} your accuracy is {accuracy:.4f}, expected {ref['accuracy']:.4f}"
            return None

        return check

    def restored(what: str, setup: Callable[[_Net], None], fail: bool = False) -> Callable[[], object]:
        def check() -> object:
            model = _net()
            setup(model)
            model.fail = fail
            before = _flags(model)
            x, y = _evaluation_data(40)
            try:
                evaluate(model, x, y)
            except RuntimeError as exc:
                if not fail:
                    raise
                if "on purpose" not in str(exc):
                    return f"{what}: the forward pass raised, and your function replaced its error with: {exc}"
                if not torch.is_grad_enabled():
                    torch.set_grad_enabled(True)  # give the notebook its switch back
                    evaluate(_net(), x, y)  # does the normal path leave it off too?
                    if not torch.is_grad_enabled():
                        torch.set_grad_enabled(True)
                        return "after your function, gradient tracking was off for a caller who had it on"
                    return (
                        f"{what}: after the forward pass raised, gradient tracking was left off for a caller "
                        "who had it on (after a normal return it is back on); it must come back on the "
                        "error path too"
                    )
            else:
                if fail:
                    return f"{what}: the forward pass raised, but your function hid the error instead of passing it on"
            after = _flags(model)
            if after != before:
                return f"{what}: afterwards {_mode_changes(before, after)}; every module must end in the mode it had"
            return None

        return check

    def grad_switch() -> object:
        model = _net()
        x, y = _evaluation_data(40)
        evaluate(model, x, y)
        if not torch.is_grad_enabled():
            return "after your function, gradient tracking was off for a caller who had it on"
        with torch.no_grad():
            evaluate(model, x, y)
            if torch.is_grad_enabled():
                return "after your function, gradient tracking was on for a caller who had it off"
        return None

    def mixed(model: _Net) -> None:
        model.train()
        model.body[1].eval()  # a frozen BatchNorm inside a model in train mode

    with sandbox(_SEED):
        return run_checks(
            "5.3 (evaluate)",
            [
                function_check(evaluate, "evaluate"),
                ("the forward pass runs in eval mode", forward_pass("a model in train mode", 1)),
                ("the forward pass records no autograd graph", forward_pass("a model in train mode", 2)),
                ("loss and accuracy, targets (N, 1) float", values("targets of shape (N, 1)", lambda y: y)),
                ("targets (N,) float", values("targets of shape (N,)", lambda y: y.reshape(-1))),
                ("targets (N,) long", values("long targets of shape (N,)", lambda y: y.reshape(-1).long())),
                ("a batch of one", values("a batch of one sample", lambda y: y.reshape(-1), n=1)),
                (
                    "a model that cannot decide: every logit exactly 0",
                    values("a model whose logits are all exactly 0", lambda y: y, undecided=True),
                ),
                (
                    "a confident model: logits beyond 17",
                    values("a confident model (logits beyond 17)", lambda y: y, confident=True),
                ),
                ("a model in eval mode stays in eval mode", restored("a model in eval mode", lambda m: m.eval())),
                ("a model in train mode is back in train mode", restored("a model in train mode", lambda m: m.train())),
                ("mixed modes (a frozen BatchNorm) are restored", restored("a model with a frozen BatchNorm", mixed)),
                (
                    "modes are restored when the forward pass raises",
                    restored("a model whose forward pass raises", mixed, fail=True),
                ),
                ("the caller's gradient tracking is left as it was", grad_switch),
            ],
            hint=(
                "read the buggy version line by line and ask of each: which mode is the model in here, is "
                "autograd recording, what does this function expect (logits or probabilities), which shapes "
                "meet in this comparison? Then: what is the model's state after it returns, or after it raises?"
            ),
        )
