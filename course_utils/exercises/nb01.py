"""Checkers for notebook 01 · train and eval modes.

* :func:`check_exercise_1`: ``count_modes(model) -> (n_train, n_eval)``
* :func:`check_exercise_2`: ``predict(model, x)`` returns eval-mode outputs
  without building a graph, lets errors through, and leaves every mode as it
  found it (the bugs of a colleague's version fixed)
* :func:`check_exercise_3`: ``flip_rate(model, x, n_passes)``, the fraction of
  labels that change when the model is (wrongly) left in train mode, measured
  without changing the model (modes and BatchNorm statistics)

Every checker builds its own hidden test models, so a solution that only works
on the notebook's model does not pass. The checkers run under a forked random
number generator: calling one does not change the random numbers the rest of
the notebook sees. Failure messages say what the answer did and what was
expected, never the code to write.
"""

from __future__ import annotations

import numbers
import types
from collections.abc import Callable

import torch
from torch import nn

from . import _probes
from ._core import CheckResult, run_checks, sandbox
from ._core import is_function as _is_function

__all__ = ["check_exercise_1", "check_exercise_2", "check_exercise_3"]

_SEED = 1234

#: Course helpers that exercise 2 asks the learner to do without.
_HELPERS = {"eval_mode", "train_mode", "preserved_state", "snapshot_modes", "restore_modes"}


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


def _flip_net(p: float = 0.5) -> nn.Module:
    """Dropout(p) then fixed weights: a label flips with probability p * (1 - p).

    On an input row ``[1, 1]`` the eval logits are ``[1, 0.6]`` (class 0). In
    train mode each input is kept (and scaled up) or zeroed; only "first
    zeroed, second kept" (probability ``p * (1 - p)``) makes class 1 win. With
    p=0.5 the rate is 1/4, with p=0.8 it is 0.16.
    """
    linear = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.6]]))
    return nn.Sequential(nn.Dropout(p), linear)


class _EveryOther(nn.Module):
    """Class 0 in eval mode; in train mode class 1 on the 1st, 3rd, 5th... pass: exact flip rates.

    The count is kept on the class, so it also counts the passes of a copy of the model.
    """

    train_calls = 0

    def __init__(self) -> None:
        super().__init__()
        _EveryOther.train_calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], 2)
        logits[:, 0] = 1.0
        if self.training:
            _EveryOther.train_calls += 1
            if _EveryOther.train_calls % 2 == 1:
                logits = logits.flip(1)
        return logits


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
    return ", ".join(moved[:3]) + (f" and {len(moved) - 3} more" if len(moved) > 3 else "")


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


def _names_used(fn: object) -> set[str]:
    """Every global or attribute name a function's code (nested code included) refers to."""
    code = getattr(fn, "__code__", None)
    names: set[str] = set()
    todo = [code] if isinstance(code, types.CodeType) else []
    while todo:
        current = todo.pop()
        names.update(current.co_names)
        todo.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
    return names


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
        raise AssertionError(f"expected a tuple of two ints (n_train, n_eval), got {result!r}")
    return int(result[0]), int(result[1])


def check_exercise_1(count_modes: Callable[[nn.Module], tuple[int, int]]) -> CheckResult:
    """Check ``count_modes(model) -> (n_train, n_eval)``, each module counted once."""

    def expect(model: nn.Module, expected: tuple[int, int], what: str) -> Callable[[], object]:
        def check() -> object:
            got = _as_pair(count_modes(model))
            if got == expected:
                return None
            total = sum(expected)
            if sum(got) != total:
                return (
                    f"on {what} you counted {sum(got)} module{'s' * (sum(got) != 1)} in all, but it has "
                    f"{total} distinct modules (the model itself and every submodule at every depth, "
                    "each counted once)"
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
        shared_layer = nn.Linear(4, 4)
        shared = nn.Sequential(shared_layer, nn.Dropout(0.2), shared_layer)  # one Linear used twice
        shared_layer.eval()
        untouched = _Net()
        untouched.train()
        untouched.head.eval()
        before = _flags(untouched)

        def leaves_modes_alone() -> object:
            count_modes(untouched)
            moved = _changed(before, untouched)
            return f"counting changed the modes of {moved}; counting must only read the flags" if moved else None

        return run_checks(
            "1.1 (count_modes)",
            [
                ("count_modes is a function", _is_function(count_modes, "count_modes")),
                ("a freshly built Sequential", expect(fresh, (5, 0), "a fresh model")),
                ("the same model after .eval()", expect(evaluated, (0, 5), "a model after .eval()")),
                ("a frozen backbone: mixed modes", expect(frozen, (4, 6), "a mixed-mode model")),
                (
                    "a model whose top-level flag was set by hand",
                    expect(by_hand, (3, 1), "a model with its top-level training attribute set by hand"),
                ),
                (
                    "a layer used at two places counts once",
                    expect(shared, (2, 1), "a Sequential that uses the same Linear layer twice"),
                ),
                ("the model's modes are left unchanged", leaves_modes_alone),
            ],
            hint=(
                "the model is a tree: count the model itself and the modules inside its children, at "
                "every depth, and a module that appears at two places in the tree is still one module."
            ),
        )


# ---------------------------------------------------------------------------
# Exercise 2: predict
# ---------------------------------------------------------------------------


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
    """Check ``predict(model, x)``: eval-mode output, no graph, errors through, modes restored."""
    with sandbox(_SEED):
        net = _trained_net()
        x = torch.randn(6, 3) * 3 + 2
        expected = _reference(net, x)
        outputs: list[torch.Tensor] = []

        def plain_pytorch() -> object:
            used = sorted(_names_used(predict) & _HELPERS)
            if used:
                return (
                    f"predict uses the course helper {used[0]}; the exercise asks for plain PyTorch, "
                    "so that you see what such a helper has to do"
                )
            return None

        def returns_tensor() -> object:
            net.train()
            out = predict(net, x)
            if not isinstance(out, torch.Tensor):
                return f"predict returned {type(out).__name__}, expected the model's output tensor"
            if out.shape != expected.shape:
                return f"the output has shape {tuple(out.shape)}, expected {tuple(expected.shape)}"
            outputs.append(out)
            return None

        def statistics_kept() -> object:
            net.train()
            stats = _probes.bn_stats(net)
            predict(net, x)
            if not _probes.same(stats, _probes.bn_stats(net)):
                return (
                    "predict changed BatchNorm's running statistics, so some forward pass ran while "
                    "the BatchNorm layer was in train mode"
                )
            return None

        def deterministic() -> object:
            net.train()
            again = predict(net, x)
            if not torch.equal(outputs[0], again):
                return (
                    "two calls on the same input gave different outputs: a dropout layer was still "
                    "in train mode during the forward pass"
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
                return "the output has requires_grad=True: autograd recorded a graph for the forward pass"
            if saved:
                return (
                    f"autograd saved {saved} tensors for a backward pass during predict: the output was "
                    "detached afterwards, but the graph was built and its memory spent"
                )
            return None

        def grad_mode_kept() -> object:
            torch.set_grad_enabled(True)
            predict(net, x)
            if not torch.is_grad_enabled():
                return (
                    "after predict, gradient tracking is switched off for the rest of the program; it "
                    "should be off during the forward pass only"
                )
            with torch.no_grad():
                predict(net, x)
                if torch.is_grad_enabled():
                    return (
                        "called inside a block where the caller had switched gradient tracking off, predict switched it "
                        "on for the rest of that block: put back the setting the caller had, not 'on'"
                    )
            return None

        def restores(prepare: Callable[[], None], what: str) -> Callable[[], object]:
            def check() -> object:
                prepare()
                before = _flags(net)
                predict(net, x)
                moved = _changed(before, net)
                if moved:
                    return f"for {what}, predict changed the modes of {moved}; every flag should come back as it was"
                return None

            return check

        def frozen_backbone() -> None:
            net.train()
            net.backbone.eval()

        def error_reaches_caller() -> object:
            frozen_backbone()
            before = _flags(net)
            bad = torch.randn(4, 5)  # wrong number of features: the forward pass raises
            raised = ""
            try:
                predict(net, bad)
            except Exception as exc:  # noqa: BLE001 - any error from the model is expected
                raised = type(exc).__name__
            moved = _changed(before, net)
            if not raised:
                return (
                    "the model raised an error on an input with the wrong number of features, but "
                    "predict returned normally: the caller never learns that the prediction failed"
                )
            if moved:
                return (
                    f"when the forward pass raised {raised}, the modes of {moved} were not "
                    "restored: the restoring code did not run"
                )
            if not torch.is_grad_enabled():
                torch.set_grad_enabled(True)
                return "when the forward pass raised an error, gradient tracking stayed switched off"
            return None

        grad_was_on = torch.is_grad_enabled()
        try:
            return run_checks(
                "1.2 (predict)",
                [
                    ("predict is a function", _is_function(predict, "predict")),
                    ("plain PyTorch, no course helper", plain_pytorch),
                    ("returns the output tensor", returns_tensor),
                    ("BatchNorm's running statistics are unchanged", statistics_kept),
                    ("the same input gives the same output twice", deterministic),
                    ("the output is the eval-mode output", matches_eval),
                    ("no autograd graph is built", no_graph),
                    ("gradient tracking comes back as the caller had it", grad_mode_kept),
                    ("a model in train mode is back in train mode", restores(net.train, "a model in train mode")),
                    ("a model in eval mode stays in eval mode", restores(net.eval, "a model in eval mode")),
                    (
                        "mixed modes (frozen backbone) come back exactly",
                        restores(frozen_backbone, "a frozen-backbone model (backbone eval, head train)"),
                    ),
                    ("an error in the forward pass reaches the caller, modes restored", error_reaches_caller),
                ],
                hint=(
                    "a single call at the end cannot know which modules were in eval mode before; "
                    "detaching the output does not stop autograd from recording; and code after the "
                    "forward pass is skipped when the forward pass raises."
                ),
            )
        finally:
            torch.set_grad_enabled(grad_was_on)


# ---------------------------------------------------------------------------
# Exercise 3: flip_rate
# ---------------------------------------------------------------------------


def check_exercise_3(flip_rate: Callable[[nn.Module, torch.Tensor, int], float]) -> CheckResult:
    """Check ``flip_rate(model, x, n_passes)`` on models whose true rates are 1/4 and 0.16."""
    with sandbox(_SEED):
        flipper = _flip_net(0.5)
        rarely = _flip_net(0.8)
        ones = torch.ones(50, 2)
        linear = nn.Linear(4, 3)  # no dropout: nothing can flip
        net = _trained_net()
        net_x = torch.randn(12, 3) * 3 + 2

        def as_rate(result: object) -> float:
            if isinstance(result, torch.Tensor):
                raise AssertionError(
                    f"flip_rate returned a tensor of shape {tuple(result.shape)}, expected a Python float"
                )
            if isinstance(result, bool) or not isinstance(result, numbers.Real):
                raise AssertionError(f"expected a float between 0 and 1, got {result!r}")
            value = float(result)
            if not 0.0 <= value <= 1.0:
                raise AssertionError(f"a fraction lies between 0 and 1, got {value:.4f}")
            return value

        def no_dropout_no_flips() -> object:
            value = as_rate(flip_rate(linear, torch.randn(20, 4), 10))
            if value != 0.0:
                return f"a model without dropout never flips a label, but you returned {value:.4f}"
            return None

        def rate(
            model: nn.Module, true: float, n_rows: int, n_passes: int, tol: float, handed_in: str = "eval"
        ) -> Callable[[], object]:
            def check() -> object:
                model.train(handed_in == "train")  # the learner switches modes themselves
                value = as_rate(flip_rate(model, ones[:n_rows], n_passes))
                if value == 0.0:
                    return (
                        "you returned 0.0 for a model with dropout: no label ever changed, so the "
                        "repeated passes did not run in train mode (the model was handed to you in eval mode)"
                    )
                if abs(value - true) >= tol:
                    given = "" if handed_in == "eval" else (
                        " (this model was handed to you in train mode: is your reference really an "
                        "eval-mode pass?)"
                    )
                    return (
                        f"with {n_rows} inputs and {n_passes} passes, this model's train-mode labels differ "
                        f"from its eval-mode labels in {true:.2f} +/- {tol} of the cases, you returned "
                        f"{value:.4f}{given}"
                    )
                return None

            return check

        def counts_exactly() -> object:
            for n_passes in (4, 5):
                model = _EveryOther().eval()
                value = as_rate(flip_rate(model, ones[:6], n_passes))
                true = ((n_passes + 1) // 2) / n_passes
                if _EveryOther.train_calls != n_passes or abs(value - true) > 1e-9:
                    return (
                        f"with n_passes={n_passes}, on a model whose labels flip on every other train-mode "
                        f"pass, the rate is exactly {true:.4f}: you ran {_EveryOther.train_calls} train-mode "
                        f"pass(es) and returned {value:.4f}. Count exactly n_passes passes, and divide by "
                        "the number of comparisons you made"
                    )
            return None

        def empty_batch() -> object:
            flipper.eval()
            try:
                value = flip_rate(flipper, ones[:0], 5)
            except Exception as exc:  # noqa: BLE001 - report what the learner's code did
                return f"on an empty batch (0 inputs) your code raised {type(exc).__name__}; no label can flip, so the rate is 0.0"
            if as_rate(value) != 0.0:
                return f"on an empty batch (0 inputs) no label can flip, but you returned {value!r}"
            return None

        def restores(prepare: Callable[[], None], what: str) -> Callable[[], object]:
            def check() -> object:
                prepare()
                before = _flags(flipper)
                flip_rate(flipper, ones[:10], 5)
                moved = _changed(before, flipper)
                if moved:
                    return f"for {what}, flip_rate changed the modes of {moved}; they should come back as they were"
                return None

            return check

        def mixed() -> None:
            flipper.train()
            flipper[1].eval()

        def statistics_kept() -> object:
            net.eval()
            stats = _probes.bn_stats(net)
            as_rate(flip_rate(net, net_x, 5))
            if not _probes.same(stats, _probes.bn_stats(net)):
                return (
                    "measuring changed the model: the train-mode passes rewrote BatchNorm's running "
                    "statistics with the statistics of x, so the model predicts differently afterwards"
                )
            return None

        def error_leaves_model_alone() -> object:
            net.train()
            net.backbone.eval()
            net.backbone[1].train()  # mixed, and BatchNorm1d in train mode refuses one sample
            before, stats = _flags(net), _probes.bn_stats(net)
            raised = ""
            try:
                flip_rate(net, net_x[:1], 5)
            except Exception as exc:  # noqa: BLE001 - BatchNorm's ValueError is expected
                raised = type(exc).__name__
            if not raised:
                return (
                    "on a batch of one sample the model's BatchNorm1d raises in train mode, but flip_rate "
                    "returned normally: the error should reach the caller"
                )
            moved = _changed(before, net)
            if moved:
                return f"when a train-mode pass raised {raised}, the modes of {moved} were not restored"
            if not _probes.same(stats, _probes.bn_stats(net)):
                return f"when a train-mode pass raised {raised}, BatchNorm's running statistics had changed"
            return None

        def no_graph() -> object:
            flipper.eval()
            _, saved = _saved_tensor_count(lambda: flip_rate(flipper, ones[:10], 5))
            if saved:
                return (
                    f"autograd saved {saved} tensors for backward passes during flip_rate: the passes built "
                    "graphs that nothing ever uses"
                )
            return None

        def grad_mode_kept() -> object:
            torch.set_grad_enabled(True)
            flip_rate(flipper, ones[:10], 5)
            if not torch.is_grad_enabled():
                return "after flip_rate gradient tracking is switched off for the rest of the program"
            return None

        grad_was_on = torch.is_grad_enabled()
        try:
            return run_checks(
                "1.3 (flip_rate)",
                [
                    ("flip_rate is a function", _is_function(flip_rate, "flip_rate")),
                    ("a model without dropout has flip rate 0", no_dropout_no_flips),
                    ("50 inputs, 200 passes: rate close to 1/4", rate(flipper, 0.25, 50, 200, 0.03)),
                    ("40 inputs, 25 passes: rate close to 1/4", rate(flipper, 0.25, 40, 25, 0.05)),
                    ("another dropout rate: close to 0.16", rate(rarely, 0.16, 50, 200, 0.03)),
                    ("a model handed over in train mode: still close to 1/4",
                     rate(flipper, 0.25, 50, 200, 0.03, handed_in="train")),
                    ("exactly n_passes passes, exactly counted", counts_exactly),
                    ("an empty batch has flip rate 0.0", empty_batch),
                    ("no autograd graph is built", no_graph),
                    ("a model in eval mode stays in eval mode", restores(flipper.eval, "a model in eval mode")),
                    ("a model in train mode stays in train mode", restores(flipper.train, "a model in train mode")),
                    ("mixed modes come back exactly", restores(mixed, "a mixed-mode model")),
                    ("BatchNorm's running statistics are unchanged", statistics_kept),
                    ("a forward pass that raises leaves the model as it was", error_leaves_model_alone),
                    ("gradient tracking is still on afterwards", grad_mode_kept),
                ],
                hint=(
                    "the reference comes from one eval-mode pass; every train-mode pass is compared with "
                    "it. Think about what a train-mode pass changes in a model besides its output, and "
                    "what must still happen when a pass raises."
                ),
            )
        finally:
            torch.set_grad_enabled(grad_was_on)
