"""Checkers for notebook 01 · train and eval modes.

* :func:`check_exercise_1`: ``count_modes(model) -> (n_train, n_eval)``
* :func:`check_exercise_2`: ``predict(model, x)`` returns eval-mode outputs
  without building a graph, and leaves every mode as it found it
* :func:`check_exercise_3`: ``flip_rate(model, x, n_passes)``, the fraction of
  labels that change when the model is (wrongly) left in train mode

Every checker builds its own hidden test models, so a solution that only works
on the notebook's model does not pass. The checkers run under a forked random
number generator: calling one does not change the random numbers the rest of
the notebook sees.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch
from torch import nn

from ._core import CheckResult, run_checks, sandbox
from ._core import is_function as _is_function

__all__ = ["check_exercise_1", "check_exercise_2", "check_exercise_3"]

_SEED = 1234


# ---------------------------------------------------------------------------
# Hidden test models
# ---------------------------------------------------------------------------


class _Net(nn.Module):
    """A small classifier with a ``backbone`` (BatchNorm) and a ``head`` (Dropout)."""

    def __init__(self, in_features: int = 3, n_classes: int = 2):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Linear(in_features, 8),
            nn.BatchNorm1d(8),
            nn.ReLU(),
            nn.Linear(8, 8),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(8, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def _trained_net() -> _Net:
    """A ``_Net`` whose BatchNorm running statistics are far from their initial 0/1."""
    net = _Net().train()
    with torch.no_grad():
        for _ in range(30):
            net(torch.randn(32, 3) * 3 + 2)
    return net


def _flip_net() -> nn.Module:
    """Dropout(0.5) then fixed weights: in train mode a label flips with probability 1/4.

    On an input row ``[1, 1]`` the eval logits are ``[1, 0.6]`` (class 0). In
    train mode each input is kept (and doubled) or zeroed with probability 1/2;
    only "first zeroed, second kept" gives logits ``[0, 1.2]`` and class 1.
    """
    linear = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.6]]))
    return nn.Sequential(nn.Dropout(0.5), linear)


def _flags(model: nn.Module) -> list[tuple[str, bool]]:
    return [(name or "(model)", m.training) for name, m in model.named_modules()]


def _changed(before: list[tuple[str, bool]], model: nn.Module) -> str:
    """'' if the flags are as before, else which modules changed and how."""
    mode = {True: "train", False: "eval"}
    moved = [
        f"{name} (was {mode[old]}, now {mode[new]})"
        for (name, old), (_, new) in zip(before, _flags(model), strict=True)
        if old != new
    ]
    if not moved:
        return ""
    shown = ", ".join(moved[:3]) + (f" and {len(moved) - 3} more" if len(moved) > 3 else "")
    return shown


# ---------------------------------------------------------------------------
# Exercise 1: count_modes
# ---------------------------------------------------------------------------


def _as_pair(result: object) -> tuple[int, int]:
    ok = (
        isinstance(result, tuple | list)
        and len(result) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in result)
    )
    if not ok:
        raise AssertionError(f"return a tuple of two ints (n_train, n_eval), got {result!r}")
    return int(result[0]), int(result[1])


def check_exercise_1(count_modes: Callable[[nn.Module], tuple[int, int]]) -> CheckResult:
    """Check ``count_modes(model) -> (n_train, n_eval)`` counted over ``model.modules()``."""

    def expect(model: nn.Module, expected: tuple[int, int], what: str) -> Callable[[], object]:
        def check() -> object:
            got = _as_pair(count_modes(model))
            if got == expected:
                return None
            total = sum(expected)
            if sum(got) != total:
                return (
                    f"on {what} you counted {sum(got)} module{'s' * (sum(got) != 1)} in all, but model.modules() "
                    f"yields {total} (the model itself and every submodule at every depth)"
                )
            if got == expected[::-1]:
                return f"on {what} you returned {got}: the order is swapped, (n_train, n_eval) is {expected}"
            return f"on {what} you returned {got}, expected {expected}"

        return check

    with sandbox(_SEED):
        fresh = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2))
        evaluated = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 2)).eval()
        frozen = _Net()
        frozen.train()
        frozen.backbone.eval()  # 6 modules in eval, model + head (3) in train
        by_hand = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.2), nn.Linear(8, 2))
        by_hand.training = False  # only the top-level flag: children stay in train mode
        untouched = _Net()
        untouched.train()
        untouched.head.eval()
        before = _flags(untouched)

        def leaves_modes_alone() -> object:
            count_modes(untouched)
            moved = _changed(before, untouched)
            return f"counting changed the modes of {moved}: only read m.training" if moved else None

        return run_checks(
            "1 (count_modes)",
            [
                ("count_modes is a function", _is_function(count_modes, "count_modes")),
                ("a freshly built Sequential", expect(fresh, (5, 0), "a fresh model")),
                ("the same model after .eval()", expect(evaluated, (0, 5), "a model after .eval()")),
                ("a frozen backbone: mixed modes", expect(frozen, (4, 6), "a mixed-mode model")),
                (
                    "a model whose top-level flag was set by hand",
                    expect(by_hand, (3, 1), "a model with `model.training = False` set by hand"),
                ),
                ("the model's modes are left unchanged", leaves_modes_alone),
            ],
            hint=(
                "loop over model.modules(): it yields the model itself and every submodule at "
                "every depth (model.children() gives only the first level). Count m.training."
            ),
        )


# ---------------------------------------------------------------------------
# Exercise 2: predict
# ---------------------------------------------------------------------------


def _saved_tensor_count(fn: Callable[[], object]) -> tuple[object, int]:
    """Run ``fn`` and count the tensors autograd saved for a backward pass meanwhile."""
    saved = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += 1
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = fn()
    return result, saved


def _reference(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    before = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            return model(x)
    finally:
        for m, flag in before:
            m.training = flag


def check_exercise_2(predict: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Check ``predict(model, x)``: deterministic eval-mode output, no graph, modes restored."""
    with sandbox(_SEED):
        net = _trained_net()
        x = torch.randn(6, 3) * 3 + 2
        expected = _reference(net, x)
        outputs: list[torch.Tensor] = []

        def returns_tensor() -> object:
            net.train()
            out = predict(net, x)
            if not isinstance(out, torch.Tensor):
                return f"predict returned {type(out).__name__}; return the model's output tensor"
            if out.shape != expected.shape:
                return f"the output has shape {tuple(out.shape)}, expected {tuple(expected.shape)}"
            outputs.append(out)
            return None

        def deterministic() -> object:
            net.train()
            again = predict(net, x)
            if not torch.equal(outputs[0], again):
                return (
                    "two calls on the same input gave different outputs, so dropout was still "
                    "active: switch the model to eval mode inside predict"
                )
            return None

        def matches_eval() -> object:
            if not torch.allclose(outputs[0], expected, atol=1e-6):
                return (
                    "the output is not what the model gives in eval mode; BatchNorm probably used "
                    "the batch's statistics: every submodule must be in eval mode for the forward pass"
                )
            return None

        def no_graph() -> object:
            net.train()
            out, saved = _saved_tensor_count(lambda: predict(net, x))
            if isinstance(out, torch.Tensor) and out.requires_grad:
                return (
                    "the output has requires_grad=True, so autograd recorded a graph: run the "
                    "forward pass under torch.no_grad() or torch.inference_mode() (eval() alone "
                    "does not switch autograd off)"
                )
            if saved:
                return (
                    f"autograd saved {saved} tensors for a backward pass during predict (the output "
                    "was detached afterwards, but the memory was spent): use torch.no_grad() or "
                    "torch.inference_mode() instead of .detach()"
                )
            return None

        def grad_mode_kept() -> object:
            torch.set_grad_enabled(True)
            predict(net, x)
            if not torch.is_grad_enabled():
                return (
                    "after predict, gradient tracking is switched off for the rest of the program: "
                    "use `with torch.no_grad():` instead of torch.set_grad_enabled(False)"
                )
            return None

        def restores(prepare: Callable[[], None], what: str) -> Callable[[], object]:
            def check() -> object:
                prepare()
                before = _flags(net)
                predict(net, x)
                moved = _changed(before, net)
                if moved:
                    return (
                        f"for {what}, predict changed the modes of {moved}; record every "
                        "submodule's flag first and put each one back afterwards"
                    )
                return None

            return check

        def frozen_backbone() -> None:
            net.train()
            net.backbone.eval()

        def restores_after_error() -> object:
            frozen_backbone()
            before = _flags(net)
            bad = torch.randn(4, 5)  # wrong number of features: the forward pass raises
            raised = ""
            try:
                predict(net, bad)
            except Exception as exc:  # noqa: BLE001 - any error from the model is expected
                raised = type(exc).__name__
            moved = _changed(before, net)
            if moved:
                return (
                    f"when the forward pass raised {raised or 'an error'}, the modes of {moved} "
                    "were not restored: put the restoring code in a `finally:` block"
                )
            if not torch.is_grad_enabled():
                torch.set_grad_enabled(True)
                return (
                    "when the forward pass raised an error, gradient tracking stayed off: "
                    "use `with torch.no_grad():`, which switches it back on its own"
                )
            return None

        grad_was_on = torch.is_grad_enabled()
        try:
            return run_checks(
                "2 (predict)",
                [
                    ("predict is a function", _is_function(predict, "predict")),
                    ("returns the output tensor", returns_tensor),
                    ("the same input gives the same output twice", deterministic),
                    ("the output is the eval-mode output", matches_eval),
                    ("no autograd graph is built", no_graph),
                    ("gradient tracking is still on afterwards", grad_mode_kept),
                    ("a model in train mode is back in train mode", restores(net.train, "a model in train mode")),
                    ("a model in eval mode stays in eval mode", restores(net.eval, "a model in eval mode")),
                    (
                        "mixed modes (frozen backbone) come back exactly",
                        restores(frozen_backbone, "a frozen-backbone model (backbone eval, head train)"),
                    ),
                    ("modes are restored when the forward pass raises", restores_after_error),
                ],
                hint=(
                    "record {m: m.training for m in model.modules()}, call model.eval(), run the "
                    "model inside `with torch.no_grad():`, and put every flag back in a `finally:` "
                    "block. model.train() at the end is not enough: it cannot know which "
                    "submodules were in eval mode before."
                ),
            )
        finally:
            torch.set_grad_enabled(grad_was_on)


# ---------------------------------------------------------------------------
# Exercise 3: flip_rate
# ---------------------------------------------------------------------------


def check_exercise_3(flip_rate: Callable[[nn.Module, torch.Tensor, int], float]) -> CheckResult:
    """Check ``flip_rate(model, x, n_passes)`` against a model whose true rate is 1/4."""
    with sandbox(_SEED):
        flipper = _flip_net()
        ones = torch.ones(50, 2)
        linear = nn.Linear(4, 3)  # no dropout: nothing can flip
        rates: dict[str, float] = {}

        def as_rate(result: object) -> float:
            if isinstance(result, bool) or not isinstance(result, numbers.Real | torch.Tensor):
                raise AssertionError(f"return a float between 0 and 1, got {result!r}")
            if isinstance(result, torch.Tensor) and result.numel() != 1:
                raise AssertionError(f"return one number, got a tensor of shape {tuple(result.shape)}")
            value = float(result)
            if not 0.0 <= value <= 1.0:
                raise AssertionError(f"a fraction lies between 0 and 1, got {value:.4f}")
            return value

        def no_dropout_no_flips() -> object:
            value = as_rate(flip_rate(linear, torch.randn(20, 4), 10))
            if value != 0.0:
                return f"a model without dropout never flips a label, but you returned {value:.4f}"
            return None

        def quarter(n_rows: int, n_passes: int, tol: float) -> Callable[[], object]:
            def check() -> object:
                flipper.eval()  # the learner must switch to train mode themselves
                value = as_rate(flip_rate(flipper, ones[:n_rows], n_passes))
                rates[f"{n_rows}x{n_passes}"] = value
                if value == 0.0:
                    return (
                        "you returned 0.0 for a model with Dropout(0.5): were the repeated passes "
                        "run in train mode? (the model was handed to you in eval mode)"
                    )
                if abs(value - 0.375) < tol and abs(value - 0.25) >= tol:
                    return (
                        f"you returned {value:.3f}, about 3/8: the reference labels must come from "
                        "ONE pass in eval mode, not from a (random) train-mode pass"
                    )
                if abs(value - 0.25) >= tol:
                    return (
                        f"with {n_rows} inputs and {n_passes} passes the flip rate of this model "
                        f"is 0.25 +/- {tol}, you returned {value:.4f}; divide the number of changed "
                        "labels by n_passes * len(x)"
                    )
                return None

            return check

        def restores(prepare: Callable[[], None], what: str) -> Callable[[], object]:
            def check() -> object:
                prepare()
                before = _flags(flipper)
                flip_rate(flipper, ones[:10], 5)
                moved = _changed(before, flipper)
                if moved:
                    return f"for {what}, flip_rate changed the modes of {moved}: restore them"
                return None

            return check

        def mixed() -> None:
            flipper.train()
            flipper[1].eval()

        def grad_mode_kept() -> object:
            torch.set_grad_enabled(True)
            flip_rate(flipper, ones[:10], 5)
            if not torch.is_grad_enabled():
                return "after flip_rate gradient tracking is off: use `with torch.no_grad():`"
            return None

        grad_was_on = torch.is_grad_enabled()
        try:
            return run_checks(
                "3 (flip_rate)",
                [
                    ("flip_rate is a function", _is_function(flip_rate, "flip_rate")),
                    ("a model without dropout has flip rate 0", no_dropout_no_flips),
                    ("50 inputs, 200 passes: rate close to 1/4", quarter(50, 200, 0.03)),
                    ("40 inputs, 25 passes: rate close to 1/4", quarter(40, 25, 0.05)),
                    ("a model in eval mode stays in eval mode", restores(flipper.eval, "a model in eval mode")),
                    ("a model in train mode stays in train mode", restores(flipper.train, "a model in train mode")),
                    ("mixed modes come back exactly", restores(mixed, "a mixed-mode model")),
                    ("gradient tracking is still on afterwards", grad_mode_kept),
                ],
                hint=(
                    "take the reference labels from ONE eval-mode pass (argmax over dim=1), then "
                    "compare the labels of n_passes train-mode passes with them, all under "
                    "torch.no_grad(). Divide the number of changed labels by n_passes * len(x), "
                    "and put the recorded modes back at the end."
                ),
            )
        finally:
            torch.set_grad_enabled(grad_was_on)
