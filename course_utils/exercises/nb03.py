"""Checkers for notebook 03: ``eval()``, ``no_grad()`` and ``inference_mode()``.

* :func:`check_exercise_1` -- a reusable ``validate(model, X, y, loss_fn)``.
* :func:`check_exercise_2` -- ``which_context(out1, out2)``: tell from two
  forward passes which mode and which grad context produced them.
* :func:`check_exercise_3` -- ``extract_features(backbone, X)``: features from
  a frozen backbone that a new head can be trained on.

Every checker builds its own small models and data inside
``torch.random.fork_rng``, so calling it does not move the notebook's random
stream, and it puts the grad-enabled switch back if the learner's code left it
off.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from ..data import make_dataset
from ..measure import GRAD_MODES, grad_context
from ..models import make_mlp
from ._core import Check, CheckResult, function_check, run_checks, sandbox
from ._probes import bn_stats as _bn_stats
from ._probes import modes as _modes
from ._probes import same as _same

__all__ = ["check_exercise_1", "check_exercise_2", "check_exercise_3"]

MODES = ("train", "eval")


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}"


# ---------------------------------------------------------------------------
# Exercise 1: validate(model, X, y, loss_fn) -> (loss, acc)
# ---------------------------------------------------------------------------


def _reference_validate(model: nn.Module, X, y, loss_fn) -> tuple[float, float]:
    ref = copy.deepcopy(model).eval()
    with torch.no_grad():
        logits = ref(X)
        loss = loss_fn(logits, y).item()
        pred = (logits > 0).float() if logits.shape[1] == 1 else logits.argmax(dim=1)
        acc = (pred == y).float().mean().item()
    return loss, acc


def _floats(result: object) -> tuple[float, float]:
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise AssertionError(f"validate should return (loss, acc), got {_describe(result)}")
    for name, value in zip(("loss", "acc"), result, strict=True):
        if isinstance(value, torch.Tensor):
            raise AssertionError(
                f"{name} is a tensor; return a Python float with .item() so no tensor "
                "(and no graph) outlives the function"
            )
        if isinstance(value, bool) or not isinstance(value, float):
            raise AssertionError(f"{name} should be a Python float, got {_describe(value)}")
    return result[0], result[1]


def check_exercise_1(validate: Callable) -> CheckResult:
    """Check ``validate(model, X, y, loss_fn) -> (loss, acc)``.

    It must run the model in eval mode without gradient tracking, return two
    Python floats, leave BatchNorm running statistics untouched, and give back
    every submodule's previous mode (train, eval or mixed) and the grad switch.
    """
    if not callable(validate):
        return run_checks(
            "3.1",
            [function_check(validate, "validate")],
            hint="write `def validate(...):` in a cell, then pass the name: check_exercise_1(validate)",
        )
    with sandbox(0):
        data = make_dataset("moons", n_samples=200, noise=0.2, seed=3)
        X, y = data.X_test, data.y_test
        model = make_mlp(2, 1, hidden=(32, 32), dropout=0.5, batchnorm=True)
        with torch.no_grad():  # give BatchNorm running stats that are not the defaults
            for _ in range(5):
                model(data.X_train)
        loss_fn = nn.BCEWithLogitsLoss()
        expected = _reference_validate(model, X, y, loss_fn)
        seen_grad: list[bool] = []
        model.register_forward_hook(lambda *_: seen_grad.append(torch.is_grad_enabled()))

        def returns_floats():
            _floats(validate(model, X, y, loss_fn))

        def deterministic():
            first = _floats(validate(model.train(), X, y, loss_fn))
            second = _floats(validate(model.train(), X, y, loss_fn))
            if first != second:
                shown = [f"(loss {a:.4f}, acc {b:.4f})" for a, b in (first, second)]
                return (
                    f"two calls on the same data gave {shown[0]} and {shown[1]}: dropout is still "
                    "active. Call model.eval() before the forward pass"
                )

        def bn_stats_untouched():
            before = _bn_stats(model)
            validate(model.train(), X, y, loss_fn)
            if not _same(before, _bn_stats(model)):
                return (
                    "BatchNorm's running_mean/running_var changed: validation data updated "
                    "them because BatchNorm was in train mode. Call model.eval() first"
                )

        def right_values():
            loss, acc = _floats(validate(model.train(), X, y, loss_fn))
            if abs(loss - expected[0]) > 1e-5:
                return f"loss {loss:.5f}, expected {expected[0]:.5f} (the model in eval mode on all of X)"
            if abs(acc - expected[1]) > 1e-6:
                return (
                    f"accuracy {acc:.4f}, expected {expected[1]:.4f}: with one logit column "
                    "the prediction is (logits > 0), compared with y"
                )

        def no_graph():
            seen_grad.clear()
            validate(model.train(), X, y, loss_fn)
            if not seen_grad:
                return "the model's forward was never called"
            if any(seen_grad):
                return (
                    "the forward pass ran with gradient tracking on, so autograd recorded a "
                    "graph and kept activations: wrap it in torch.inference_mode() (or no_grad())"
                )

        def train_comes_back():
            validate(model.train(), X, y, loss_fn)
            if not all(_modes(model)):
                return (
                    "a model that was in train mode came back in eval mode: the next epoch "
                    "would train without dropout. Restore the previous mode at the end"
                )

        def eval_stays():
            validate(model.eval(), X, y, loss_fn)
            if any(_modes(model)):
                return (
                    "a model that was in eval mode came back in train mode: restore the mode "
                    "it had before (record it first) instead of calling model.train()"
                )

        def mixed_comes_back():
            model.train()
            model[1].eval()  # the first BatchNorm frozen, as when fine-tuning
            before = _modes(model)
            validate(model, X, y, loss_fn)
            if _modes(model) != before:
                return (
                    "a model with MIXED modes (one BatchNorm in eval, the rest in train) did "
                    "not come back the same: record every submodule's .training flag "
                    "(for m in model.modules()) and set each one back"
                )

        def grad_switch_restored():
            torch.set_grad_enabled(True)
            validate(model.train(), X, y, loss_fn)
            if not torch.is_grad_enabled():
                return (
                    "gradient tracking is still off after your function: use a with block "
                    "(torch.inference_mode()) instead of torch.set_grad_enabled(False)"
                )

        def multi_class():
            blobs = make_dataset("blobs", n_samples=150, n_classes=3, seed=1)
            net = make_mlp(2, 3, hidden=(16,), dropout=0.5)
            ce = nn.CrossEntropyLoss()
            want = _reference_validate(net, blobs.X_test, blobs.y_test, ce)
            got = _floats(validate(net.train(), blobs.X_test, blobs.y_test, ce))
            if abs(got[0] - want[0]) > 1e-5 or abs(got[1] - want[1]) > 1e-6:
                return (
                    f"for 3 classes you returned ({got[0]:.5f}, {got[1]:.4f}), "
                    f"expected ({want[0]:.5f}, {want[1]:.4f}): "
                    "with several logit columns the prediction is logits.argmax(dim=1)"
                )

        checks: list[Check] = [
            ("returns (loss, acc) as two Python floats", returns_floats),
            ("same result when called twice", deterministic),
            ("BatchNorm running statistics unchanged", bn_stats_untouched),
            ("loss and accuracy in eval mode", right_values),
            ("no graph recorded", no_graph),
            ("train mode restored", train_comes_back),
            ("eval mode kept", eval_stays),
            ("mixed modes restored", mixed_comes_back),
            ("grad switch left on", grad_switch_restored),
            ("multi-class accuracy", multi_class),
        ]
        return run_checks(
            "3.1",
            checks,
            hint="record {m: m.training for m in model.modules()}, call model.eval(), compute "
            "inside `with torch.inference_mode():`, return loss.item() and acc.item(), and set "
            "every flag back in a finally: block.",
        )


# ---------------------------------------------------------------------------
# Exercise 2: which_context(out1, out2) -> (mode, grad_mode)
# ---------------------------------------------------------------------------


def _two_passes(model: nn.Module, x: torch.Tensor, mode: str, grad_mode: str):
    model.train(mode == "train")
    with grad_context(grad_mode):
        return model(x), model(x)


def check_exercise_2(which_context: Callable) -> CheckResult:
    """Check ``which_context(out1, out2) -> (mode, grad_mode)``.

    ``out1`` and ``out2`` are two forward passes of the same model on the same
    input; the answer is ``("train" | "eval", "grad" | "no_grad" | "inference_mode")``.
    """
    if not callable(which_context):
        return run_checks(
            "3.2",
            [function_check(which_context, "which_context")],
            hint="write `def which_context(...):` in a cell, then pass the name: check_exercise_2(which_context)",
        )
    with sandbox(seed=1):
        model = make_mlp(4, 3, hidden=(64,), dropout=0.5)
        inputs = [torch.randn(16, 4), torch.randn(5, 4)]

        def answer_for(mode: str, grad_mode: str, x: torch.Tensor):
            out1, out2 = _two_passes(model, x, mode, grad_mode)
            got = which_context(out1, out2)
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise AssertionError(
                    f"return a pair like ('eval', 'no_grad'), got {_describe(got)}"
                )
            if got[0] not in MODES or got[1] not in GRAD_MODES:
                raise AssertionError(
                    f"answer with a mode from {MODES} and a context from {GRAD_MODES}, got {tuple(got)!r}"
                )
            return tuple(got)

        def explain(mode: str, grad_mode: str, got: tuple) -> str:
            made = f"outputs made with model.{mode}() under {grad_mode}"
            if got[0] != mode:
                return (
                    f"{made} were labelled {got!r}. The mode shows in whether the two passes "
                    "agree (torch.equal(out1, out2)): dropout makes them differ only in train mode; "
                    "requires_grad says nothing about the mode"
                )
            if grad_mode == "inference_mode" or got[1] == "inference_mode":
                return (
                    f"{made} were labelled {got!r}. no_grad and inference_mode both give "
                    "requires_grad=False; only out.is_inference() tells them apart"
                )
            return (
                f"{made} were labelled {got!r}. out.requires_grad (or out.grad_fn is not None) "
                "is True exactly when autograd recorded the pass"
            )

        def case(mode: str, grad_mode: str):
            def check():
                for x in inputs:
                    got = answer_for(mode, grad_mode, x)
                    if got != (mode, grad_mode):
                        return explain(mode, grad_mode, got)

            return check

        checks: list[Check] = [
            (f"model.{mode}() under {grad_mode}", case(mode, grad_mode))
            for grad_mode in GRAD_MODES
            for mode in MODES
        ]
        return run_checks(
            "3.2",
            checks,
            hint="three questions: do the passes agree (torch.equal)? out1.requires_grad? "
            "out1.is_inference()?",
        )


# ---------------------------------------------------------------------------
# Exercise 3: extract_features(backbone, X) -> features to train a head on
# ---------------------------------------------------------------------------


def check_exercise_3(extract_features: Callable) -> CheckResult:
    """Check ``extract_features(backbone, X) -> features``.

    The features must come from the backbone in eval mode, carry no graph,
    be ordinary tensors (not inference tensors) so a new head can be trained
    on them, and leave the backbone's modes and BatchNorm statistics as they were.
    """
    if not callable(extract_features):
        return run_checks(
            "3.3",
            [function_check(extract_features, "extract_features")],
            hint="write `def extract_features(...):` in a cell, then pass the name: check_exercise_3(extract_features)",
        )
    with sandbox(seed=2):
        backbone = nn.Sequential(
            nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5)
        )
        X = make_dataset("moons", n_samples=120, noise=0.2, seed=5).X_train
        with torch.no_grad():
            for _ in range(5):
                backbone(X)
        with torch.no_grad():
            expected = copy.deepcopy(backbone).eval()(X)

        def features() -> torch.Tensor:
            out = extract_features(backbone.train(), X)
            if not isinstance(out, torch.Tensor):
                raise AssertionError(f"return the features as a tensor, got {_describe(out)}")
            if out.shape != expected.shape:
                raise AssertionError(
                    f"features should have shape {tuple(expected.shape)} (the backbone's output), "
                    f"got {tuple(out.shape)}"
                )
            return out

        def is_tensor():
            features()

        def ordinary_tensor():
            if features().is_inference():
                return (
                    "these are inference tensors (made under torch.inference_mode()): autograd "
                    "refuses to save them, so a head cannot be trained on them. Use "
                    "torch.no_grad() here, or return features.clone()"
                )

        def no_graph():
            out = features()
            if out.requires_grad or out.grad_fn is not None:
                return (
                    "the features carry a graph back into the backbone (requires_grad=True): "
                    "every head update would also backpropagate through the frozen backbone "
                    "and keep its activations. Compute them under torch.no_grad()"
                )

        def head_trains():
            out = features()
            head = nn.Linear(out.shape[1], 1)
            head(out).pow(2).mean().backward()
            if head.weight.grad is None:
                return "the head got no gradient from a loss computed on your features"

        def deterministic():
            if not torch.equal(features(), features()):
                return "two calls gave different features: dropout is active. Call backbone.eval() first"

        def bn_untouched():
            before = _bn_stats(backbone)
            features()
            if not _same(before, _bn_stats(backbone)):
                return "BatchNorm's running statistics changed: the backbone was in train mode"

        def right_values():
            if not torch.allclose(features(), expected, atol=1e-6):
                return "the features differ from the backbone's output in eval mode"

        def mode_restored():
            features()
            if not all(_modes(backbone)):
                return (
                    "the backbone was in train mode and came back in eval mode: restore the "
                    "mode it had (it may be training later)"
                )

        checks: list[Check] = [
            ("returns a feature tensor", is_tensor),
            ("not an inference tensor", ordinary_tensor),
            ("no graph attached", no_graph),
            ("a head can be trained on them", head_trains),
            ("same features twice", deterministic),
            ("BatchNorm running statistics unchanged", bn_untouched),
            ("eval-mode values", right_values),
            ("backbone mode restored", mode_restored),
        ]
        return run_checks(
            "3.3",
            checks,
            hint="the features will feed autograd later (a head is trained on them), so this is "
            "a job for torch.no_grad(), not inference_mode(); and eval mode for the backbone.",
        )
