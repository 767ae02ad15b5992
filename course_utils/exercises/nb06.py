"""Checkers for notebook 06 · decision boundaries.

* :func:`check_exercise_1`: ``grid_labels(model, points)`` returns one class
  label per point, computed the way a boundary is computed: one eval-mode
  forward pass without autograd, logits turned into labels (one logit:
  P(class 1) >= 0.5; K logits: the most likely class). The model comes back
  in exactly the modes it arrived in, even when its forward pass raises.
* :func:`exercise_2_model` builds the BatchNorm network of exercise 2;
  :func:`check_exercise_2` checks what the learner measured about its
  train-mode boundary, and that the network itself was left untouched.

The checkers build their own models and run under a forked random number
generator: calling one does not change the random numbers the rest of the
notebook sees.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data import make_dataset
from ..models import make_mlp
from ..training import fit
from ._core import CheckResult, function_check, run_checks, sandbox
from ._probes import bn_stats, modes, same

__all__ = ["check_exercise_1", "exercise_2_model", "check_exercise_2", "ANSWER_KEYS_2"]

_SEED = 606


# ---------------------------------------------------------------------------
# Exercise 1: grid_labels(model, points)
# ---------------------------------------------------------------------------


class _Recorder(nn.Module):
    """Wraps a model; records the grad switch and its own mode at every forward call."""

    def __init__(self, inner: nn.Module, fail: bool = False):
        super().__init__()
        self.inner = inner
        self.fail = fail
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((torch.is_grad_enabled(), self.training))
        if self.fail:
            raise _ForwardFailed("the model's forward pass failed (on purpose, to test your cleanup)")
        return self.inner(x)


class _ForwardFailed(RuntimeError):
    """Raised on purpose by a checker's model."""


def _fixed_linear(weight: list[list[float]], bias: list[float]) -> nn.Linear:
    layer = nn.Linear(len(weight[0]), len(weight))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
        layer.bias.copy_(torch.tensor(bias))
    return layer


def _points(n: int) -> torch.Tensor:
    return torch.rand(n, 2) * 4 - 2


def _expected(model: nn.Module, points: torch.Tensor) -> torch.Tensor:
    """The reference answer, computed on a copy so the checked model is not touched."""
    import copy

    clone = copy.deepcopy(model).eval()
    with torch.inference_mode():
        logits = clone(points)
    if logits.shape[1] == 1:
        return (torch.sigmoid(logits[:, 0]) >= 0.5).long()
    return logits.argmax(dim=1)


def _as_labels(out: object, n: int, what: str) -> torch.Tensor:
    """The learner's output as a tensor, or an AssertionError saying what is wrong with it."""
    if not isinstance(out, torch.Tensor):
        raise AssertionError(f"on {what} your function returned {type(out).__name__}, expected a torch tensor "
                             "of class labels")
    if tuple(out.shape) != (n,):
        message = (f"on {what} ({n} point{'s' * (n != 1)}) your labels have shape {tuple(out.shape)}; "
                   f"expected one label per point, shape ({n},)")
        if n == 1:
            message += (": with a batch of one, the batch axis has size 1 too; an operation that drops "
                        "every axis of size 1 drops it as well")
        raise AssertionError(message)
    if out.dtype != torch.int64:
        raise AssertionError(f"on {what} your labels have dtype {out.dtype}; class labels are integers "
                             "(torch.int64), like the targets")
    if out.requires_grad:
        raise AssertionError(f"on {what} your labels require grad: they are attached to a graph")
    return out


def _changed(model: nn.Module, before: list[bool]) -> str:
    """Which modules' modes differ from ``before``, e.g. "layer 0 (Linear) eval -> train"."""
    named = list(model.named_modules())
    moved = [
        f"{f'layer {name}' if name else 'the model itself'} ({type(m).__name__}) "
        f"{'train' if was else 'eval'} -> {'train' if m.training else 'eval'}"
        for (name, m), was in zip(named, before, strict=True)
        if m.training != was
    ]
    return ", ".join(moved[:3]) + (" ..." if len(moved) > 3 else "")


def check_exercise_1(grid_labels: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Check ``grid_labels(model, points) -> labels``, shape ``(M,)``, dtype ``int64``."""

    def binary() -> nn.Module:
        # logit = 2 * x1: a point's label is decided by the sign of its first feature.
        return nn.Sequential(_fixed_linear([[2.0, 0.0]], [0.0]))

    def agrees(model_factory: Callable[[], nn.Module], points: torch.Tensor, what: str) -> Callable[[], Any]:
        def check() -> Any:
            model = model_factory()
            expected = _expected(model, points)
            got = _as_labels(grid_labels(model, points), len(points), what)
            wrong = int((got != expected).sum())
            if wrong:
                return f"on {what} {wrong} of {len(points)} labels differ from the model's predictions"
            return None

        return check

    def threshold_on_probability() -> Any:
        # Logits 0.1 .. 0.4: P(class 1) from 0.52 to 0.60, all class 1; logit -0.2: class 0.
        points = torch.tensor([[0.05, 0.0], [0.1, 1.0], [0.2, -1.0], [-0.1, 0.5]])
        got = _as_labels(grid_labels(binary(), points), 4, "a one-logit model")
        expected = torch.tensor([1, 1, 1, 0])
        if torch.equal(got, expected):
            return None
        if torch.equal(got, torch.tensor([0, 0, 0, 0])):
            return ("for points whose logit lies between 0 and 0.5 you returned class 0, although "
                    "their P(class 1) is between 0.52 and 0.60: the cut at 0.5 applies to the "
                    "probability, not to the logit")
        return f"for logits [0.1, 0.2, 0.4, -0.2] you returned {got.tolist()}, expected {expected.tolist()}"

    def tie() -> Any:
        points = torch.tensor([[0.0, 3.0], [0.0, -3.0]])  # logit exactly 0: P(class 1) = 0.5
        got = _as_labels(grid_labels(binary(), points), 2, "points with logit 0")
        if got.tolist() == [1, 1]:
            return None
        return ("at logit 0, P(class 1) is exactly 0.5 and you returned class 0; the course's rule "
                "(notebook 05) is that P >= 0.5 counts as class 1")

    def multi() -> nn.Module:
        return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 4))

    def two_logits() -> nn.Module:
        return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))

    def dropout_in_train_mode() -> Any:
        model = make_mlp(hidden=(32, 32), dropout=0.5).train()
        points = _points(200)
        expected = _expected(model, points)
        first = _as_labels(grid_labels(model, points), 200, "a dropout model handed over in train mode")
        second = _as_labels(grid_labels(model, points), 200, "a dropout model handed over in train mode")
        off = int((first != expected).sum())
        if off or not torch.equal(first, second):
            return (f"for a dropout model handed over in train mode, {off} of 200 labels differ from its "
                    f"eval-mode predictions and two calls disagree on {int((first != second).sum())} "
                    "points: the forward pass ran with dropout active")
        return None

    def batchnorm_model() -> nn.Module:
        model = make_mlp(hidden=(8,), batchnorm=True)
        fit(model, (_points(64), (torch.rand(64, 1) > 0.5).float()), loss_fn=nn.BCEWithLogitsLoss(),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=3)
        return model

    def batchnorm_in_train_mode() -> Any:
        model = bn_model.train()
        stats = bn_stats(model)
        points = _points(100) * 3 + 2  # far from the statistics BatchNorm has stored
        expected = _expected(model, points)
        got = _as_labels(grid_labels(model, points), 100, "a BatchNorm model handed over in train mode")
        if not same(stats, bn_stats(model)):
            return ("BatchNorm's running statistics changed during your call: the forward pass ran in "
                    "train mode, so the grid was averaged into them")
        off = int((got != expected).sum())
        if off:
            return (f"for a BatchNorm model handed over in train mode, {off} of 100 labels differ from its "
                    "eval-mode predictions")
        return None

    def restores(model_factory: Callable[[], nn.Module], what: str) -> Callable[[], Any]:
        def check() -> Any:
            model = model_factory()
            before = modes(model)
            grid_labels(model, _points(10))
            if modes(model) != before:
                return f"after your function the modes of {what} changed: {_changed(model, before)}"
            return None

        return check

    def mixed_train_outside() -> nn.Module:
        model = make_mlp(hidden=(8, 8), dropout=0.2).train()
        model[0].eval()
        return model

    def mixed_eval_outside() -> nn.Module:
        model = make_mlp(hidden=(8, 8), dropout=0.2).eval()
        model[2].train()
        return model

    def restores_when_forward_raises() -> Any:
        model = _Recorder(mixed_train_outside(), fail=True)
        before = modes(model)
        try:
            grid_labels(model, _points(10))
        except _ForwardFailed:
            pass
        if not model.calls:
            return "your function never called the model"
        if modes(model) != before:
            return ("when the model's forward pass raised an error, your function left the modes "
                    f"changed ({_changed(model, before)}); they must come back even when it fails")
        if not torch.is_grad_enabled():
            torch.set_grad_enabled(True)  # give the notebook its switch back
            grid_labels(binary(), _points(10))  # does the normal path leave it off too?
            if not torch.is_grad_enabled():
                torch.set_grad_enabled(True)
                return ("after your function returned, gradient tracking was still switched off for "
                        "the rest of the notebook")
            return ("after the forward pass raised, gradient tracking was left off for a caller who had "
                    "it on (after a normal return it is back on); it must come back on the error path too")
        return None

    def no_graph() -> Any:
        model = _Recorder(binary())
        _as_labels(grid_labels(model, _points(10)), 10, "a one-logit model")
        if not model.calls:
            return "your function never called the model"
        grad_on, training = model.calls[-1]
        if training:
            return "the model's forward pass ran in train mode"
        if grad_on:
            return ("the forward pass ran with gradient tracking on, so autograd recorded a graph "
                    "(detaching the result afterwards does not undo that)")
        if not torch.is_grad_enabled():
            torch.set_grad_enabled(True)  # give the notebook its switch back
            return ("after your function returned, gradient tracking was still switched off for "
                    "the rest of the notebook")
        with torch.no_grad():
            grid_labels(model, _points(10))
            if torch.is_grad_enabled():
                return ("for a caller who had gradient tracking switched off, your "
                        "function switched it on; it must come back as it was, off here")
        return None

    def batch_of_one() -> Any:
        return agrees(binary, torch.tensor([[0.5, -0.5]]), "a batch of one")()

    def empty() -> Any:
        got = grid_labels(multi_fixed(), torch.zeros(0, 2))
        _as_labels(got, 0, "an empty set of points, shape (0, 2)")
        return None

    with sandbox(_SEED):
        multi_model = multi()
        two_model = two_logits()
        bn_model = batchnorm_model()

        def multi_fixed() -> nn.Module:
            return multi_model

        return run_checks(
            "6.1 (grid_labels)",
            [
                function_check(grid_labels, "grid_labels"),
                ("one logit: the cut is at P(class 1) = 0.5", threshold_on_probability),
                ("a one-logit model in eval mode", agrees(binary, _points(100), "a one-logit model")),
                ("one logit: P(class 1) = 0.5 exactly", tie),
                ("a model with 4 logits", agrees(multi_fixed, _points(100), "a 4-class model")),
                ("a binary model with 2 logits", agrees(lambda: two_model, _points(100), "a 2-logit model")),
                ("a dropout model handed over in train mode", dropout_in_train_mode),
                ("a BatchNorm model handed over in train mode", batchnorm_in_train_mode),
                ("modes restored: train mode with a layer in eval",
                 restores(mixed_train_outside, "a train-mode model with one layer in eval mode")),
                ("modes restored: eval mode with a layer in train",
                 restores(mixed_eval_outside, "an eval-mode model with one layer in train mode")),
                ("modes restored when the forward pass raises", restores_when_forward_raises),
                ("eval mode, no graph, grad switch as before", no_graph),
                ("a batch of one point", batch_of_one),
                ("one point through a 4-class model",
                 agrees(multi_fixed, _points(1), "one point through a 4-class model")),
                ("an empty set of points", empty),
            ],
            hint=("a boundary is the model's answer, so the forward pass must run in the mode a trained "
                  "model is judged in, without recording a graph; note every module's mode before you "
                  "change anything and put each one back afterwards, even if the model raises."),
        )


# ---------------------------------------------------------------------------
# Exercise 2: predict, then run: a BatchNorm network's boundary in train mode
# ---------------------------------------------------------------------------

#: The keys exercise 2 expects, and what each one holds.
ANSWER_KEYS_2 = {
    "same_every_time": "bool: two train-mode computations give identical grid labels",
    "grid_share_class_1": "float in [0, 1]: share of the grid labelled class 1 in train mode",
    "test_accuracy": "float in [0, 1]: accuracy on the test points in train mode",
}
_TOLERANCE_2 = 0.005


def _circles():
    """The notebook's circles, ``make_dataset("circles")``."""
    return make_dataset("circles")


def exercise_2_model() -> nn.Module:
    """A circles classifier with BatchNorm after each hidden layer, trained, in eval mode.

    Every call returns a new model with the same weights.
    """
    with sandbox(_SEED):
        data = _circles()
        model = make_mlp(hidden=(16, 16), batchnorm=True)
        fit(model, (data.X_train, data.y_train), loss_fn=nn.BCEWithLogitsLoss(),
            optimizer=torch.optim.Adam(model.parameters(), lr=0.03), epochs=60)
    return model.eval()


def _truth_2() -> dict[str, Any]:
    from ..plotting import compute_decision_boundary

    model = exercise_2_model()
    data = _circles()
    runs = [compute_decision_boundary(model, data.X_test, data.y_test, mode="train") for _ in range(2)]
    evals = compute_decision_boundary(model, data.X_test, data.y_test)
    with torch.no_grad():  # train mode on the test points alone: BatchNorm uses the test batch's statistics
        model.train()
        alone = model(torch.as_tensor(data.X_test, dtype=torch.float32))
        model.eval()
    targets = torch.as_tensor(data.y_test).reshape(-1).long()
    return {
        "alone_accuracy": float(((alone[:, 0] >= 0).long() == targets).float().mean()),
        "same_every_time": bool(np.array_equal(runs[0].labels, runs[1].labels)),
        "grid_share_class_1": float(runs[0].labels.mean()),
        "test_accuracy": float(runs[0].accuracy),
        "eval_share": float(evals.labels.mean()),
        "eval_accuracy": float(evals.accuracy),
    }


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _plain(value: object) -> object:
    """A one-element tensor or NumPy value as the Python value it holds (``tensor(True)`` -> ``True``)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, np.ndarray | np.generic) and value.size == 1:
        return value.item()
    return value


def check_exercise_2(answers: dict[str, Any], model: nn.Module | None = None) -> CheckResult:
    """Check the measured ``answers`` (keys :data:`ANSWER_KEYS_2`) and that ``model`` is untouched."""
    box: dict[str, Any] = {}

    def is_a_dict() -> Any:
        if not isinstance(answers, dict):
            return (f"answers must be a dict with the keys {list(ANSWER_KEYS_2)}, "
                    f"got {type(answers).__name__}")
        keys = [str(k).strip().lower() for k in answers]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            return f"each key once: {', '.join(twice)} appears more than once (letter case aside)"
        missing = [k for k in ANSWER_KEYS_2 if k not in keys]
        if missing:
            return f"missing: {', '.join(missing)}"
        extra = sorted(set(keys) - set(ANSWER_KEYS_2))
        if extra:
            return f"unexpected keys: {', '.join(extra)}; the keys are {', '.join(ANSWER_KEYS_2)}"
        box["answers"] = {str(k).strip().lower(): _plain(v) for k, v in answers.items()}
        return None

    def value_types() -> Any:
        given = box["answers"]
        if not isinstance(given["same_every_time"], bool | np.bool_):
            return f"same_every_time must be True or False, got {given['same_every_time']!r}"
        for key in ("grid_share_class_1", "test_accuracy"):
            value = given[key]
            if not _is_number(value) or math.isnan(value):
                return f"{key} must be a number, got {value!r}"
            if not 0 <= value <= 1:
                return f"{key} must be a fraction between 0 and 1, got {value!r} (a percentage?)"
        return None

    def the_model() -> Any:
        if model is None:
            return ("pass the network you worked on as well: the second argument is the model "
                    "from exercise_2_model(), so the checker can see that it is unchanged")
        if not isinstance(model, nn.Module):
            return f"the second argument must be the network (an nn.Module), got {type(model).__name__}"
        reference = exercise_2_model()
        if [type(m) for m in model.modules()] != [type(m) for m in reference.modules()]:
            return "the second argument is not the network from exercise_2_model()"
        box["reference"] = reference
        return None

    def model_untouched() -> Any:
        if any(m.training for m in model.modules()):
            where = [name or "the model" for name, m in model.named_modules() if m.training]
            return (f"the network is not back in the mode you got it in: {', '.join(where[:3])} "
                    "in train mode")
        if not same(bn_stats(model), bn_stats(box["reference"])):
            return ("the network's BatchNorm running statistics are not the ones it came with: a "
                    "train-mode forward pass averaged your batch into them")
        if not all(torch.equal(a, b) for a, b in zip(model.parameters(), box["reference"].parameters(),
                                                     strict=True)):
            return "the network's weights changed"
        return None

    def repeatable() -> Any:
        box["truth"] = truth = _truth_2()
        if bool(box["answers"]["same_every_time"]) == truth["same_every_time"]:
            return None
        return ("same_every_time does not match what two train-mode computations of this network "
                "give: compare the two label grids element by element")

    def number(key: str, eval_key: str, what: str) -> Callable[[], Any]:
        def check() -> Any:
            truth, given = box["truth"], float(box["answers"][key])
            if abs(given - truth[key]) <= _TOLERANCE_2:
                return None
            reasons = []
            if abs(given - truth[eval_key]) <= _TOLERANCE_2:
                reasons.append("what the network gives when BatchNorm uses its running statistics (eval mode), "
                               "or on the training data's statistics")
            if key == "test_accuracy" and abs(given - truth["alone_accuracy"]) <= _TOLERANCE_2:
                reasons.append("what train mode gives when the test points go through by themselves: BatchNorm "
                               "then normalises with the test batch's own statistics")
            if reasons:
                return (f"{key} = {given:.3f} is " + "; it is also ".join(reasons) + ". The question is about "
                        "train mode on the helper's grid, which sends the grid and the points together as one "
                        "batch, so BatchNorm sees the grid's statistics")
            return f"{key} = {given:.3f} is not {what} that the train-mode computation gives"
        return check

    with sandbox(_SEED):
        return run_checks(
            "6.2 (BatchNorm in train mode)",
            [
                ("answers is a dict with the three keys", is_a_dict),
                ("the values have the right types", value_types),
                ("the network is passed too", the_model),
                ("the network is left as it was", model_untouched),
                ("same_every_time", repeatable),
                ("grid_share_class_1",
                 number("grid_share_class_1", "eval_share", "the share of the grid labelled class 1")),
                ("test_accuracy", number("test_accuracy", "eval_accuracy", "the test accuracy")),
            ],
            hint=("in train mode BatchNorm normalises with the mean and variance of the batch it is "
                  "given, and the boundary helper sends the whole grid (and the points) as one batch; "
                  "measure with the helper's train-mode option and its default grid."),
        )
