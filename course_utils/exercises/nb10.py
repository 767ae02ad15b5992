"""Checkers for notebook 10 · a gallery of common mistakes.

* :func:`check_exercise_1`: *spot the bug* -- a dictionary that maps each
  snippet (``"A"`` to ``"F"``) to the id of its mistake in the gallery.
* :func:`check_exercise_2`: ``accuracy_fixed(model, X, y) -> float``, a
  binary accuracy without the four mistakes of ``accuracy_buggy``.
* :func:`check_capstone`: ``validate(model, X, y, loss_fn, batch_size=64) -> dict``,
  the validation loop for a CNN: eval mode without tracking, in batches,
  dropout on vs off, and the memory autograd would keep.

Every checker prints one friendly line (pass, or the first failure and a hint)
and never shows a traceback, whatever the learner passes in. Checkers build
their own small models and data under a forked random number generator, so
calling one does not change the random numbers the notebook sees, and they
put the grad-enabled switch back if the learner's code left it off.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from ..data import digits_images, make_dataset
from ..measure import saved_tensor_bytes
from ..models import SmallCNN, make_mlp
from ._core import Check, CheckResult, run_checks, sandbox
from ._probes import bn_stats as _bn_stats
from ._probes import modes as _modes
from ._probes import same as _same

__all__ = ["MISTAKES", "SNIPPETS", "check_exercise_1", "check_exercise_2", "check_capstone"]

#: The gallery, in the notebook's order: id -> title. Exercise 1 answers with these ids
#: (or with the number, 1 to 14).
MISTAKES: dict[str, str] = {
    "forgot-eval": "Forgetting eval() before validation",
    "forgot-train": "Forgetting train() after validation",
    "no-grad-not-eval": "Taking no_grad() for eval mode",
    "tracking-in-validation": "Validating with gradient tracking on",
    "batch-of-one": "BatchNorm1d on a batch of one",
    "functional-dropout": "F.dropout without training=self.training",
    "frozen-bn-drift": "A frozen backbone left in train mode",
    "inference-tensors": "Inference tensors fed to autograd later",
    "softmax-before-ce": "Softmax before CrossEntropyLoss",
    "sigmoid-before-bce": "Sigmoid before BCEWithLogitsLoss",
    "target-shape-dtype": "Wrong target shape or dtype",
    "forgot-zero-grad": "Forgetting zero_grad()",
    "wrong-threshold": "The wrong threshold for labels",
    "train-set-accuracy": "Evaluating on the training set",
}

#: Exercise 1: snippet letter -> (accepted ids, a hint that does not give the answer away).
SNIPPETS: dict[str, tuple[frozenset[str], str]] = {
    "A": (frozenset({"softmax-before-ce"}), "what does CrossEntropyLoss do to its input first?"),
    # B misses model.eval(): both names describe it
    "B": (
        frozenset({"no-grad-not-eval", "forgot-eval"}),
        "no_grad() is there; which mode is the model in after a training epoch?",
    ),
    "C": (frozenset({"forgot-zero-grad"}), "what is in .grad when the second batch's backward() runs?"),
    "D": (frozenset({"functional-dropout"}), "what is F.dropout's training argument by default?"),
    "E": (
        frozenset({"frozen-bn-drift"}),
        "requires_grad_(False) freezes the weights; what does model.train() do to the backbone's BatchNorm?",
    ),
    "F": (
        frozenset({"inference-tensors"}),
        "what kind of tensor does inference_mode() create, and can mse_loss save it for backward?",
    ),
}


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def _is_function(fn: object, name: str) -> Check:
    def check() -> str | None:
        if not callable(fn):
            return (
                f"expected a function, got {type(fn).__name__}; pass `{name}` itself, "
                "without calling it"
            )
        return None

    return ("your answer is a function", check)


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}"


def _python_float(value: object, name: str) -> float:
    if isinstance(value, torch.Tensor):
        raise AssertionError(f"{name} is {_describe(value)}; return a Python float with .item()")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AssertionError(f"{name} should be a Python float, got {_describe(value)}")
    if not math.isfinite(value):
        raise AssertionError(f"{name} is {value}, not a finite number")
    return float(value)


def _warm_up(model: nn.Module, X: torch.Tensor, passes: int = 5) -> None:
    """Give BatchNorm running statistics that are not the defaults (mean 0, var 1)."""
    model.train()
    with torch.no_grad():
        for _ in range(passes):
            model(X)


def _mode_checks(run: Callable[[nn.Module], object], model: nn.Module, mixed_layer: nn.Module) -> list[Check]:
    """Checks that ``run(model)`` gives back train, eval and mixed modes unchanged."""

    def train_comes_back():
        run(model.train())
        if not all(_modes(model)):
            return (
                "a model that was in train mode came back (partly) in eval mode: the next "
                "epoch would train without dropout. Restore the previous modes at the end"
            )

    def eval_stays():
        run(model.eval())
        if any(_modes(model)):
            return (
                "a model that was in eval mode came back (partly) in train mode: restore the "
                "modes it had (record them first) instead of calling model.train()"
            )

    def mixed_comes_back():
        model.train()
        mixed_layer.eval()  # one BatchNorm kept in eval mode, as when fine-tuning
        before = _modes(model)
        run(model)
        if _modes(model) != before:
            return (
                "a model with MIXED modes (one BatchNorm in eval, the rest in train) did not "
                "come back the same: record every submodule's .training flag "
                "(for m in model.modules()) and set each one back"
            )

    def grad_switch_restored():
        torch.set_grad_enabled(True)
        run(model.train())
        if not torch.is_grad_enabled():
            return (
                "gradient tracking is still off after your function: use a with block "
                "(torch.inference_mode() or torch.no_grad()) instead of torch.set_grad_enabled(False)"
            )

    return [
        ("train mode restored", train_comes_back),
        ("eval mode kept", eval_stays),
        ("mixed modes restored", mixed_comes_back),
        ("grad switch left on", grad_switch_restored),
    ]


# ---------------------------------------------------------------------------
# Exercise 1: spot the bug
# ---------------------------------------------------------------------------


def _normalise_answer(value: object) -> str | None:
    """An id from MISTAKES for an id (any case, _ or -) or a number 1-14; else None."""
    ids = list(MISTAKES)
    if isinstance(value, int) and not isinstance(value, bool):
        return ids[value - 1] if 1 <= value <= len(ids) else None
    if isinstance(value, str):
        text = value.strip().lower().replace("_", "-").replace(" ", "-")
        if text.isdigit():
            return _normalise_answer(int(text))
        return text if text in MISTAKES else None
    return None


def check_exercise_1(answers: object) -> CheckResult:
    """Check a dictionary ``{"A": mistake_id, ..., "F": mistake_id}``.

    The ids are those of the gallery's table (``"forgot-eval"``, ...); the
    table's numbers (1 to 14) are accepted too.
    """
    letters = sorted(SNIPPETS)

    def is_dict():
        if not isinstance(answers, dict):
            return (
                f"answers should be a dict such as {{'A': 'forgot-eval', ...}}, "
                f"got {type(answers).__name__}"
            )

    def one_per_snippet():
        given = {str(k).strip().upper() for k in answers}
        missing = [k for k in letters if k not in given]
        extra = sorted(given - set(letters))
        if missing:
            return f"no answer for snippet(s) {', '.join(missing)}: give one id per letter {letters[0]}-{letters[-1]}"
        if extra:
            return f"there are only snippets {letters[0]}-{letters[-1]}; remove {', '.join(extra)}"

    def known_ids():
        for key, value in answers.items():
            if _normalise_answer(value) is None:
                close = difflib.get_close_matches(str(value).lower(), list(MISTAKES), n=1)
                suggestion = f" (did you mean {close[0]!r}?)" if close else ""
                return (
                    f"snippet {str(key).strip().upper()}: {value!r} is not an id from the table{suggestion}; "
                    f"the ids are: {', '.join(MISTAKES)}"
                )

    def all_right():
        normalised = {str(k).strip().upper(): _normalise_answer(v) for k, v in answers.items()}
        wrong = [k for k in letters if normalised[k] not in SNIPPETS[k][0]]
        if wrong:
            details = "; ".join(f"{k}: not {normalised[k]!r} ({SNIPPETS[k][1]})" for k in wrong)
            return f"{len(letters) - len(wrong)} of {len(letters)} right. {details}"

    checks: list[Check] = [
        ("answers is a dict", is_dict),
        ("one answer per snippet", one_per_snippet),
        ("every answer is an id from the table", known_ids),
        ("each snippet matched to its mistake", all_right),
    ]
    return run_checks(
        "10.1",
        checks,
        hint="read the 'symptom' column of the table at the top, and re-run the gallery cell "
        "that looks most like the snippet.",
    )


# ---------------------------------------------------------------------------
# Exercise 2: accuracy_fixed(model, X, y) -> float
# ---------------------------------------------------------------------------

_RULES: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], str]] = {
    "logits > 0": (lambda z: (z > 0).float(), ""),
    "logits > 0.5": (
        lambda z: (z > 0.5).float(),
        "you thresholded the logits at 0.5; on the logit scale the boundary is 0 "
        "(sigmoid(0) = 0.5), so use logits > 0",
    ),
    "sigmoid(logits) > 0": (
        lambda z: (torch.sigmoid(z) > 0).float(),
        "every point was predicted as class 1: a sigmoid output is always above 0; "
        "threshold probabilities at 0.5, or logits at 0",
    ),
    "argmax over one column": (
        lambda z: z.argmax(dim=1, keepdim=True).float(),
        "every point was predicted as class 0: argmax over a single column is always 0; "
        "with one logit per sample use logits > 0",
    ),
}
_BROADCAST = (
    "predictions of shape (N, 1) were compared with labels of shape (N,), and broadcasting "
    "made an N x N table of every prediction against every label: reshape both with .reshape(-1)"
)


def _threshold_case() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A model whose logit is its input, on 40 points: 24 negative logits, 8 in (0, 0.5], 8 above.

    The classes are unbalanced on purpose, so that each wrong rule (and each rule
    combined with the broadcasting mistake) gives its own accuracy.
    """
    model = nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.zero_()
    X = torch.cat([torch.linspace(-2.0, -0.05, 24), torch.linspace(0.05, 0.5, 8),
                   torch.linspace(0.6, 2.0, 8)]).unsqueeze(1)
    y = (X > 0).float()  # (N, 1): every point labelled by the sign of its logit
    return model, X, y


def _diagnose_accuracy(value: float, logits: torch.Tensor, y: torch.Tensor) -> str:
    """Name the mistake(s) that turn these logits into ``value``, if a known combination does."""
    flat_y = y.reshape(-1).float()
    for predict, rule_problem in _RULES.values():
        pred = predict(logits).reshape(-1)
        candidates = [
            ((pred == flat_y).float().mean().item(), [rule_problem]),
            ((pred.reshape(-1, 1) == flat_y.reshape(1, -1)).float().mean().item(),
             [rule_problem, _BROADCAST]),
        ]
        for accuracy, problems in candidates:
            problems = [p for p in problems if p]
            if problems and abs(value - accuracy) < 1e-6:
                return "; and ".join(problems)
    return ""


def check_exercise_2(accuracy_fixed: Callable) -> CheckResult:
    """Check ``accuracy_fixed(model, X, y) -> float`` for binary models (one logit column).

    ``y`` may be ``(N,)`` or ``(N, 1)``, float or long. The model must be run
    in eval mode without tracking, and every submodule's mode restored.
    """
    with sandbox(seed=1010):
        line, X_line, y_line = _threshold_case()
        with torch.no_grad():
            line_logits = line(X_line)
        moons = make_dataset("moons", n_samples=200, noise=0.25, seed=7)
        net = make_mlp(2, 1, hidden=(32,), dropout=0.5, batchnorm=True)
        _warm_up(net, moons.X_train)
        X, y = moons.X_test, moons.y_test
        with torch.no_grad():
            expected = ((copy.deepcopy(net).eval()(X) > 0).float() == y).float().mean().item()
        grad_seen: list[bool] = []
        net.register_forward_pre_hook(lambda *_: grad_seen.append(torch.is_grad_enabled()))

        def run(model, X_, y_) -> float:
            return _python_float(accuracy_fixed(model, X_, y_), "the accuracy")

        def returns_float():
            run(line, X_line, y_line)

        def right_on_the_line(y_: torch.Tensor, what: str):
            def check():
                value = run(line, X_line, y_)
                if abs(value - 1.0) > 1e-6:
                    why = _diagnose_accuracy(value, line_logits, y_)
                    return (
                        f"with {what} labels you returned {value:.4f}, expected 1.0000"
                        + (f": {why}" if why else "")
                    )

            return check

        def deterministic():
            first, second = run(net.train(), X, y), run(net.train(), X, y)
            if first != second:
                return (
                    f"two calls on the same data gave {first:.4f} and {second:.4f}: dropout is "
                    "still active. Call model.eval() before the forward pass"
                )

        def bn_untouched():
            before = _bn_stats(net)
            run(net.train(), X, y)
            if not _same(before, _bn_stats(net)):
                return (
                    "BatchNorm's running statistics changed: the model ran in train mode. "
                    "Call model.eval() first"
                )

        def eval_value():
            value = run(net.train(), X, y)
            if abs(value - expected) > 1e-6:
                return f"returned {value:.4f}, expected {expected:.4f} (the model in eval mode)"

        def no_tracking():
            grad_seen.clear()
            run(net.eval(), X, y)
            if not grad_seen:
                return "the model's forward was never called"
            if any(grad_seen):
                return (
                    "the forward pass ran with gradient tracking on: wrap it in "
                    "torch.inference_mode() or torch.no_grad()"
                )

        checks: list[Check] = [
            _is_function(accuracy_fixed, "accuracy_fixed"),
            ("returns a Python float", returns_float),
            ("(N, 1) float labels", right_on_the_line(y_line, "(N, 1) float")),
            ("(N,) float labels", right_on_the_line(y_line.reshape(-1), "(N,) float")),
            ("(N,) long labels", right_on_the_line(y_line.reshape(-1).long(), "(N,) long")),
            ("same result twice", deterministic),
            ("BatchNorm running statistics unchanged", bn_untouched),
            ("the eval-mode accuracy", eval_value),
            ("no gradient tracking", no_tracking),
            *_mode_checks(lambda m: run(m, X, y), net, net[1]),
        ]
        return run_checks(
            "10.2",
            checks,
            hint="record {m: m.training for m in model.modules()}; model.eval(); inside "
            "torch.inference_mode(): predictions = model(X) > 0; compare "
            "predictions.reshape(-1) with y.reshape(-1); return .item(); restore the flags "
            "in a finally: block.",
        )


# ---------------------------------------------------------------------------
# Capstone: validate(model, X, y, loss_fn, batch_size=64) -> dict
# ---------------------------------------------------------------------------

_KEYS = ("loss", "accuracy", "dropout_gap", "bytes_grad", "bytes_no_grad")


def _small_cnn(dropout: float, warm: torch.Tensor) -> SmallCNN:
    model = SmallCNN(n_classes=10, channels=(4, 8), hidden=16, dropout=dropout)
    _warm_up(model, warm)
    return model


def _reference_metrics(model: nn.Module, X, y, loss_fn, batch_size: int) -> dict[str, float]:
    ref = copy.deepcopy(model).eval()
    with torch.no_grad():
        logits = ref(X)
        batches = [
            (loss_fn(ref(xb), yb).item(), (ref(xb).argmax(dim=1) == yb).float().mean().item())
            for xb, yb in zip(X.split(batch_size), y.split(batch_size), strict=True)
        ]
    first = X[:batch_size]
    return {
        "loss": loss_fn(logits, y).item(),
        "accuracy": (logits.argmax(dim=1) == y).float().mean().item(),
        "unweighted_loss": sum(b[0] for b in batches) / len(batches),
        "unweighted_accuracy": sum(b[1] for b in batches) / len(batches),
        # a slice shares X's storage, and saved_tensor_bytes counts whole storages:
        # accept the measurement on a copy of the first batch or on the slice itself
        "bytes_clone": saved_tensor_bytes(partial(ref, first.clone()), "grad"),
        "bytes_view": saved_tensor_bytes(partial(ref, first), "grad"),
        "bytes_train": saved_tensor_bytes(partial(copy.deepcopy(model).train(), first.clone()), "grad"),
    }


def _report(result: object) -> dict:
    if not isinstance(result, dict):
        raise AssertionError(f"validate should return a dict with keys {_KEYS}, got {_describe(result)}")
    missing = [k for k in _KEYS if k not in result]
    if missing:
        raise AssertionError(f"the dict has no {', '.join(repr(k) for k in missing)}; it needs {_KEYS}")
    for key in ("loss", "accuracy", "dropout_gap"):
        _python_float(result[key], repr(key))
    for key in ("bytes_grad", "bytes_no_grad"):
        value = result[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise AssertionError(
                f"{key!r} should be the int saved_tensor_bytes returns, got {_describe(value)}"
            )
    if not 0.0 <= result["accuracy"] <= 1.0:
        raise AssertionError(
            f"accuracy {result['accuracy']} is not a fraction between 0 and 1 (not a percentage)"
        )
    return result


def check_capstone(validate: Callable) -> CheckResult:
    """Check ``validate(model, X, y, loss_fn, batch_size=64) -> dict``.

    The dict holds ``"loss"`` and ``"accuracy"`` (eval mode, no tracking, in
    size-weighted batches), ``"dropout_gap"`` (first batch: mean absolute
    logit difference with only the dropout layers switched on), and
    ``"bytes_grad"``/``"bytes_no_grad"`` (``saved_tensor_bytes`` of one
    eval-mode pass on the first batch, tracking on/off). Modes, BatchNorm
    statistics and the grad switch must be as before.
    """
    with sandbox(seed=1011):
        digits = digits_images(seed=3)
        X, y = digits.X_test[:150].clone(), digits.y_test[:150].clone()  # batches 64, 64, 22
        cnn = _small_cnn(0.3, digits.X_train[:256])
        no_dropout = _small_cnn(0.0, digits.X_train[:256])
        loss_fn = nn.CrossEntropyLoss()
        expected = _reference_metrics(cnn, X, y, loss_fn, 64)
        forwards: list[tuple[int, bool]] = []  # (batch size, tracking on) of every forward
        cnn.register_forward_pre_hook(
            lambda _m, args: forwards.append((args[0].shape[0], torch.is_grad_enabled()))
        )

        def run(model: nn.Module, batch_size: int = 64) -> dict:
            return _report(validate(model, X, y, loss_fn, batch_size=batch_size))

        def returns_report():
            run(cnn.train())

        def deterministic():
            # on two identical copies, so that a change to BatchNorm's statistics (checked
            # next) cannot make the second call differ
            first, second = run(copy.deepcopy(cnn).train()), run(copy.deepcopy(cnn).train())
            if (first["loss"], first["accuracy"]) != (second["loss"], second["accuracy"]):
                return (
                    f"two calls gave loss {first['loss']:.4f} and {second['loss']:.4f}: dropout is "
                    "active during the metric pass. Call model.eval() before the loop"
                )

        def bn_untouched():
            before = _bn_stats(cnn)
            run(cnn.train())
            if not _same(before, _bn_stats(cnn)):
                return (
                    "BatchNorm's running statistics changed, so some forward pass ran with "
                    "BatchNorm in train mode. Use model.eval() for the metrics, and for the "
                    "dropout-on pass switch only the dropout layers to train mode"
                )

        def right_metrics():
            got = run(cnn.train())
            loss, acc = got["loss"], got["accuracy"]
            if abs(loss - expected["loss"]) < 1e-5 and abs(acc - expected["accuracy"]) < 1e-6:
                return None
            if (
                abs(loss - expected["unweighted_loss"]) < 1e-5
                or abs(acc - expected["unweighted_accuracy"]) < 1e-6
            ):
                return (
                    "you averaged the per-batch means, but the last batch holds 22 samples, not "
                    "64: weight each batch by its size (sum loss * len(batch), divide by len(X))"
                )
            return (
                f"loss {loss:.5f} and accuracy {acc:.4f}, expected {expected['loss']:.5f} and "
                f"{expected['accuracy']:.4f} (the model in eval mode on all of X; the "
                "prediction is logits.argmax(dim=1))"
            )

        def in_batches():
            forwards.clear()
            run(cnn.eval(), batch_size=40)
            sizes = {size for size, _ in forwards}
            if 30 not in sizes:
                return (
                    f"with batch_size=40 your forward passes had sizes {sorted(sizes)}, expected "
                    "batches of 40 and a last batch of 30: loop over X in steps of batch_size"
                )

        def metrics_untracked():
            forwards.clear()
            run(cnn.eval())
            if any(tracked for size, tracked in forwards if size == 22):
                return (
                    "the metric loop ran with gradient tracking on: put it inside "
                    "torch.inference_mode() (or torch.no_grad())"
                )

        def dropout_gap_positive():
            gap = run(cnn.eval())["dropout_gap"]
            if not gap > 0:
                return (
                    f"dropout_gap is {gap}: the two passes were identical, so dropout was not "
                    "active in one of them. Set the dropout layers to train mode for that pass"
                )

        def dropout_gap_is_dropout_only():
            gap = _report(validate(no_dropout.eval(), X, y, loss_fn, batch_size=64))["dropout_gap"]
            if abs(gap) > 1e-6:
                return (
                    f"for a CNN whose dropout has p=0 the gap should be 0, got {gap:.4f}: BatchNorm "
                    "was in train mode during the 'dropout on' pass. Switch only nn.Dropout and "
                    "nn.Dropout2d layers to train mode"
                )

        def bytes_measured():
            got = run(cnn.eval())
            if got["bytes_no_grad"] != 0:
                return (
                    f"bytes_no_grad is {got['bytes_no_grad']:,}, but without tracking autograd saves "
                    "nothing: measure it with 'no_grad' or 'inference_mode'"
                )
            if got["bytes_grad"] in (expected["bytes_clone"], expected["bytes_view"]):
                return None
            if got["bytes_grad"] == 0:
                return (
                    "bytes_grad is 0: call saved_tensor_bytes(..., 'grad') outside any "
                    "inference_mode()/no_grad() block"
                )
            if got["bytes_grad"] == expected["bytes_train"]:
                return "bytes_grad was measured in train mode; measure the eval-mode forward pass"
            return (
                f"bytes_grad is {got['bytes_grad']:,}, expected {expected['bytes_clone']:,}: one "
                "eval-mode forward pass on the first batch, X[:batch_size].clone()"
            )

        checks: list[Check] = [
            _is_function(validate, "validate"),
            (f"returns a dict with {', '.join(_KEYS)}", returns_report),
            ("same loss and accuracy twice", deterministic),
            ("BatchNorm running statistics unchanged", bn_untouched),
            ("loss and accuracy in eval mode, weighted by batch size", right_metrics),
            ("loops over batches of batch_size", in_batches),
            ("metric loop without gradient tracking", metrics_untracked),
            ("dropout_gap > 0 with dropout", dropout_gap_positive),
            ("dropout_gap measures dropout alone", dropout_gap_is_dropout_only),
            ("saved_tensor_bytes with and without tracking", bytes_measured),
            *_mode_checks(run, cnn, cnn.features[1]),
        ]
        return run_checks(
            "10 capstone",
            checks,
            hint="record every module's .training; take first = X[:batch_size].clone(); "
            "model.eval(); in torch.inference_mode() loop over batches (sum loss * batch size) "
            "and compare model(first) before and after switching only the dropout layers to "
            "train(); measure saved_tensor_bytes outside inference_mode; restore the flags in "
            "a finally: block.",
        )
