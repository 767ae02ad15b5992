"""Checkers for notebook 04 · the training loop.

* :func:`check_exercise_1`: ``train_step(model, X, y, loss_fn, optimizer) -> float``,
  one training step: train mode, then forward, loss, zero_grad, backward, step.
* :func:`check_exercise_2`: ``test_step(model, X, y, loss_fn) -> (loss, accuracy)``,
  one evaluation: eval mode, forward pass under ``torch.inference_mode()``.

Each checker builds its own small hidden models and data and compares the
learner's function with a reference implementation on identical copies. The
checkers run under a forked random number generator, so calling one does not
change the random numbers the rest of the notebook sees.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable

import torch
from torch import nn

from ..conversions import accuracy
from ._core import CheckResult, run_checks, sandbox
from ._core import is_function as _is_function

__all__ = ["check_exercise_1", "check_exercise_2"]

_SEED = 404
_LR = 0.1
_TOL = 1e-6


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _max_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))


def _untrained_mode(model: nn.Module) -> list[str]:
    return [name or "(model)" for name, m in model.named_modules() if not m.training]


# ---------------------------------------------------------------------------
# Exercise 1: train_step
# ---------------------------------------------------------------------------


def _reference_train_step(model, X, y, loss_fn, optimizer) -> float:
    model.train()
    logits = model(X)
    loss = loss_fn(logits, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


class _Case1:
    """A plain MLP, binary data and SGD: deterministic, so results can be compared exactly."""

    def __init__(self) -> None:
        self.model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
        self.X = torch.randn(24, 3)
        self.y = (self.X[:, :1] * self.X[:, 1:2] > 0).float()
        self.loss_fn = nn.BCEWithLogitsLoss()

    def copy(self) -> tuple[nn.Module, torch.optim.Optimizer]:
        model = copy.deepcopy(self.model)
        return model, torch.optim.SGD(model.parameters(), lr=_LR)


def check_exercise_1(train_step: Callable) -> CheckResult:
    """Check ``train_step(model, X, y, loss_fn, optimizer) -> float`` (one training step).

    It must put the model in train mode, run the five steps once on the whole
    batch, and return the loss (measured before the update) as a Python float.
    """
    with sandbox(_SEED):
        case = _Case1()
        ref_model, ref_opt = case.copy()
        ref_before = _params(ref_model)
        ref_loss_1 = _reference_train_step(ref_model, case.X, case.y, case.loss_fn, ref_opt)
        ref_after_1 = _params(ref_model)
        _reference_train_step(ref_model, case.X, case.y, case.loss_fn, ref_opt)
        ref_after_2 = _params(ref_model)

        model, opt = case.copy()
        got: dict[str, object] = {}

        def returns_float() -> object:
            got["loss"] = train_step(model, case.X, case.y, case.loss_fn, opt)
            got["after_1"] = _params(model)
            value = got["loss"]
            if isinstance(value, torch.Tensor):
                return (
                    "you returned a tensor; return loss.item(), a plain Python float "
                    "(it does not keep the graph alive and prints cleanly)"
                )
            if not _is_number(value):
                return f"expected the loss as a float, got {type(value).__name__}"
            return None

        def loss_before_update() -> object:
            value = float(got["loss"])
            if abs(value - ref_loss_1) > _TOL:
                return (
                    f"the returned loss {value:.6f} is not the loss of this batch before "
                    f"the update ({ref_loss_1:.6f}); return loss.item() of the loss you "
                    "called backward() on"
                )
            return None

        def params_moved_one_step() -> object:
            after = got["after_1"]
            if _max_diff(after, ref_before) == 0:
                return (
                    "the weights did not change. Call optimizer.step() after loss.backward(), "
                    "use the optimizer passed in as an argument, and do not call "
                    "optimizer.zero_grad() between backward() and step() (it wipes the "
                    "gradients step() needs)"
                )
            if _max_diff(after, ref_after_1) > _TOL:
                return (
                    "the weights changed, but not by one optimizer step on this batch; "
                    "run forward, loss, zero_grad, backward and step exactly once"
                )
            return None

        def second_call_clears_gradients() -> object:
            train_step(model, case.X, case.y, case.loss_fn, opt)
            if _max_diff(_params(model), ref_after_2) > _TOL:
                return (
                    "the second call did not match a correct second step: the gradients of "
                    "the first call were still there and were added to the new ones. "
                    "Call optimizer.zero_grad() before loss.backward()"
                )
            return None

        def sets_train_mode() -> object:
            mode_model = nn.Sequential(
                nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1)
            ).eval()
            mode_opt = torch.optim.SGD(mode_model.parameters(), lr=_LR)
            train_step(mode_model, case.X, case.y, case.loss_fn, mode_opt)
            still_eval = _untrained_mode(mode_model)
            if still_eval:
                return (
                    f"given a model in eval mode, train_step left {', '.join(still_eval[:3])} in "
                    "eval mode; call model.train() first so dropout and BatchNorm train properly"
                )
            return None

        return run_checks(
            "1 (train_step)",
            [
                ("train_step is a function", _is_function(train_step, "train_step")),
                ("it returns the loss as a Python float", returns_float),
                ("the loss is this batch's loss before the update", loss_before_update),
                ("the weights moved by exactly one step", params_moved_one_step),
                ("a second call starts from cleared gradients", second_call_clears_gradients),
                ("it puts the model in train mode", sets_train_mode),
            ],
            hint=(
                "model.train(); logits = model(X); loss = loss_fn(logits, y); "
                "optimizer.zero_grad(); loss.backward(); optimizer.step(); return loss.item()"
            ),
        )


# ---------------------------------------------------------------------------
# Exercise 2: test_step
# ---------------------------------------------------------------------------


class _Net(nn.Module):
    """BatchNorm and Dropout, so a train-mode evaluation gives different numbers."""

    def __init__(self, n_out: int):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(16, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _case2(n_out: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor, nn.Module]:
    """A model in train mode whose BatchNorm running statistics are already trained."""
    model = _Net(n_out).train()
    with torch.no_grad():
        for _ in range(20):
            model(torch.randn(32, 3) * 2 + 1)
    X = torch.randn(40, 3) * 2 + 1
    if n_out == 1:
        return model, X, (X.sum(1, keepdim=True) > 3).float(), nn.BCEWithLogitsLoss()
    return model, X, (X[:, 0] > 1).long() + (X[:, 1] > 1).long(), nn.CrossEntropyLoss()


def _reference_test_step(model, X, y, loss_fn) -> tuple[float, float]:
    model.eval()
    with torch.inference_mode():
        logits = model(X)
        return loss_fn(logits, y).item(), accuracy(logits, y)


def _as_pair(result: object) -> tuple[float, float] | str:
    if not isinstance(result, tuple | list) or len(result) != 2:
        return f"expected a pair (loss, accuracy), got {type(result).__name__}"
    if any(isinstance(v, torch.Tensor) for v in result):
        return "you returned tensors; return plain Python floats with .item()"
    if not all(_is_number(v) for v in result):
        return f"expected two floats (loss, accuracy), got {[type(v).__name__ for v in result]}"
    return float(result[0]), float(result[1])


def check_exercise_2(test_step: Callable) -> CheckResult:
    """Check ``test_step(model, X, y, loss_fn) -> (loss, accuracy)`` (one evaluation).

    It must switch the model to eval mode, run the forward pass under
    ``torch.inference_mode()`` and return two Python floats.
    """
    with sandbox(_SEED):
        seen: dict[str, object] = {}

        def run_case(n_out: int) -> tuple[object, tuple[float, float], nn.Module, list[bool]]:
            model, X, y, loss_fn = _case2(n_out)
            reference = _reference_test_step(copy.deepcopy(model), X, y, loss_fn)
            grad_on: list[bool] = []
            model.register_forward_hook(lambda *_: grad_on.append(torch.is_grad_enabled()))
            result = test_step(model, X, y, loss_fn)
            return result, reference, model, grad_on

        def returns_pair() -> object:
            seen["binary"] = run_case(1)
            pair = _as_pair(seen["binary"][0])
            return pair if isinstance(pair, str) else None

        def no_graph() -> object:
            grad_on = seen["binary"][3]
            if not grad_on:
                return "the model was never called; compute logits = model(X)"
            if any(grad_on):
                return (
                    "the forward pass ran with gradient tracking on, so autograd built a graph "
                    "nobody needs; run it inside `with torch.inference_mode():`"
                )
            return None

        def grad_mode_restored() -> object:
            if not torch.is_grad_enabled():
                torch.set_grad_enabled(True)
                return (
                    "gradient tracking was still off after test_step returned; use "
                    "`with torch.inference_mode():` so it switches back on by itself"
                )
            return None

        def eval_mode_numbers() -> object:
            result, (ref_loss, ref_acc), model, _ = seen["binary"]
            loss, acc = _as_pair(result)
            if abs(loss - ref_loss) > _TOL:
                return (
                    f"your loss {loss:.4f} differs from the eval-mode loss {ref_loss:.4f}: call "
                    "model.eval() before the forward pass (in train mode dropout drops units and "
                    "BatchNorm normalises with the test batch's statistics)"
                )
            if abs(acc - ref_acc) > _TOL:
                return (
                    f"the loss is right but the accuracy {acc:.4f} should be {ref_acc:.4f}; "
                    "use accuracy(logits, y) from course_utils.conversions"
                )
            return None

        def multiclass() -> object:
            result, (ref_loss, ref_acc), _, _ = run_case(3)
            pair = _as_pair(result)
            if isinstance(pair, str):
                return pair
            if abs(pair[0] - ref_loss) > _TOL or abs(pair[1] - ref_acc) > _TOL:
                return (
                    f"on a 3-class model you returned ({pair[0]:.4f}, {pair[1]:.4f}), expected "
                    f"({ref_loss:.4f}, {ref_acc:.4f}); accuracy(logits, y) handles K logits with argmax"
                )
            return None

        return run_checks(
            "2 (test_step)",
            [
                ("test_step is a function", _is_function(test_step, "test_step")),
                ("it returns (loss, accuracy) as two floats", returns_pair),
                ("the forward pass builds no graph", no_graph),
                ("gradient tracking is back on afterwards", grad_mode_restored),
                ("loss and accuracy are the eval-mode values", eval_mode_numbers),
                ("it also works for a 3-class model", multiclass),
            ],
            hint=(
                "model.eval(); with torch.inference_mode(): logits = model(X); "
                "return loss_fn(logits, y).item(), accuracy(logits, y)"
            ),
        )
