"""Checkers for notebook 10 · a gallery of common mistakes.

* :func:`check_exercise_1`: *find the bug* -- a dictionary that maps each
  snippet (``"A"`` to ``"F"``, new code, not the gallery's) to the id of its
  mistake in the gallery.
* :func:`check_exercise_2`: ``accuracy_fixed(model, X, y) -> float``, a
  binary accuracy without the mistakes of ``accuracy_buggy``.
* :func:`check_capstone`: ``validate(model, loader, loss_fn) -> dict``, the
  validation loop for a CNN fed by a ``DataLoader``: eval mode without
  tracking, batches weighted by their size, every dropout layer on vs off, and
  the activation memory that tracking would keep alive.

Every checker prints one line (pass, or the first failure: what this answer
did and what was expected) and never shows a traceback or the code to write.
Checkers build their own small models and data under a forked random number
generator, so calling one does not change the random numbers the notebook
sees, and they put the grad-enabled switch back if the learner's code left it
off. Each one also runs the answer on a model whose forward pass raises, and
under ``torch.no_grad()``, to see that modes and the grad switch come back as
they were (not forced to train/eval, not forced on).
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Callable
from functools import partial

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

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

#: Exercise 1: snippet letter -> (accepted ids, a question that points at the symptom
#: without naming the mistake).
SNIPPETS: dict[str, tuple[frozenset[str], str]] = {
    "A": (
        frozenset({"softmax-before-ce"}),
        "which values can reach the loss, and what does the loss compute from its input first?",
    ),
    # B never switches the freshly built model out of train mode: both names describe it
    "B": (
        frozenset({"no-grad-not-eval", "forgot-eval"}),
        "which mode is a freshly built model in, and does loading weights change that?",
    ),
    "C": (frozenset({"forgot-zero-grad"}), "follow one parameter's .grad through two iterations"),
    "D": (
        frozenset({"functional-dropout"}),
        "put the model in eval mode and call this layer twice on the same input: "
        "do the two outputs agree?",
    ),
    "E": (
        frozenset({"batch-of-one"}),
        "count the samples in the last batch of an epoch, and think about what the "
        "model's normalisation layers do with them in train mode",
    ),
    "F": (
        frozenset({"forgot-train"}),
        "which mode is the model in at step 101?",
    ),
}

_DROPOUT = (nn.Dropout, nn.Dropout2d)


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
        raise AssertionError(
            f"{name} is {_describe(value)}, expected a Python float (a plain number, not a tensor)"
        )
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


class _Exploding(nn.Module):
    """A model whose forward pass raises: do the modes come back after an error?"""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        raise RuntimeError("a deliberate error in the forward pass (the checker's test)")


def _count_changed(before: list[bool], after: list[bool]) -> int:
    return sum(a != b for a, b in zip(before, after, strict=True))


def _mode_checks(
    run: Callable[[nn.Module], object], model: nn.Module, mixed_layer: nn.Module, exploding: _Exploding,
) -> list[Check]:
    """Checks that ``run(model)`` gives back train, eval and mixed modes and the grad switch
    unchanged, also when the forward pass raises."""

    def train_comes_back():
        run(model.train())
        if not all(_modes(model)):
            return (
                "a model that was in train mode came back with some layers in eval mode: the "
                "next epoch would train without dropout (expected: every layer back in train mode)"
            )

    def eval_stays():
        run(model.eval())
        if any(_modes(model)):
            return (
                "a model that was in eval mode came back with some layers in train mode; "
                "expected every layer in the mode it had before your function ran, not "
                "switched to train mode"
            )

    def mixed_comes_back():
        model.train()
        mixed_layer.eval()  # one BatchNorm kept in eval mode, as when fine-tuning
        before = _modes(model)
        run(model)
        changed = _count_changed(before, _modes(model))
        if changed:
            return (
                f"a model with MIXED modes (one BatchNorm in eval, the rest in train) came back "
                f"with {changed} layer(s) in a different mode; expected every layer in the mode "
                "it had, layer by layer"
            )

    def modes_back_after_an_error():
        torch.set_grad_enabled(True)
        exploding.train()
        exploding.body[1].eval()  # mixed again
        before = _modes(exploding)
        try:
            run(exploding)
        except Exception:  # the deliberate error, expected to reach the caller
            pass
        changed = _count_changed(before, _modes(exploding))
        if changed:
            return (
                f"when the model's forward pass raised an error, {changed} layer(s) stayed in a "
                "different mode: the restoring code did not run. Expected the modes back even "
                "when the forward pass fails"
            )
        if not torch.is_grad_enabled():
            return (
                "when the model's forward pass raised an error, gradient tracking stayed off "
                "afterwards; expected it back on, as it was before the call"
            )

    def grad_switch_back_on():
        torch.set_grad_enabled(True)
        run(model.train())
        if not torch.is_grad_enabled():
            return (
                "gradient tracking was on before your function and off after it: the switch "
                "was turned off and never turned back"
            )

    def grad_switch_stays_off():
        with torch.no_grad():
            run(model.train())
            if torch.is_grad_enabled():
                return (
                    "called inside torch.no_grad(), your function left gradient tracking ON: "
                    "it switched tracking on at the end instead of putting back what it found"
                )

    return [
        ("train mode restored", train_comes_back),
        ("eval mode kept", eval_stays),
        ("mixed modes restored", mixed_comes_back),
        ("grad switch left on", grad_switch_back_on),
        ("grad switch left off under no_grad()", grad_switch_stays_off),
        ("modes restored when the forward pass raises", modes_back_after_an_error),
    ]


# ---------------------------------------------------------------------------
# Exercise 1: find the bug
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
        hint="for each snippet, say which mode the model is in, which grad context is "
        "active and what reaches the loss; then find the row of the table whose symptom fits.",
    )


# ---------------------------------------------------------------------------
# Exercise 2: accuracy_fixed(model, X, y) -> float
# ---------------------------------------------------------------------------

_RULES: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], str]] = {
    "logits > 0": (lambda z: (z > 0).float(), ""),
    "logits > 0.5": (
        lambda z: (z > 0.5).float(),
        "the points with a logit between 0 and 0.5 were counted as class 0, although the "
        "model predicts class 1 for them (their probability is above 0.5)",
    ),
    "sigmoid(logits) > 0": (
        lambda z: (torch.sigmoid(z) > 0).float(),
        "every point was predicted as class 1: your rule holds for every probability a "
        "sigmoid produces",
    ),
    "argmax over one column": (
        lambda z: z.argmax(dim=1, keepdim=True).float(),
        "every point was predicted as class 0: with a single output column, the position of "
        "the largest value is always 0",
    ),
}
_BROADCAST = (
    "predictions of shape (N, 1) were compared with labels of shape (N,), which gives an "
    "N x N table of every prediction against every label; its mean is not an accuracy "
    "(expected: one comparison per sample)"
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
    in eval mode without tracking, and every submodule's mode restored (also
    when the forward pass raises), and the grad switch left as it was.
    """
    with sandbox(seed=1010):
        line, X_line, y_line = _threshold_case()
        with torch.no_grad():
            line_logits = line(X_line)
        moons = make_dataset("moons", n_samples=200, noise=0.25, seed=7)
        net = make_mlp(2, 1, hidden=(32,), dropout=0.5, batchnorm=True)
        _warm_up(net, moons.X_train)
        X, y = moons.X_test, moons.y_test
        reference = copy.deepcopy(net).eval()
        with torch.no_grad():
            expected = ((reference(X) > 0).float() == y).float().mean().item()
            expected_one = float((reference(X[:1]) > 0).float().item() == y[:1].item())
        exploding = _Exploding(make_mlp(2, 1, hidden=(8,), dropout=0.5, batchnorm=True))
        grad_seen: list[bool] = []
        # on the first layer, not on the model: model.forward(X) runs it too
        net[0].register_forward_pre_hook(lambda *_: grad_seen.append(torch.is_grad_enabled()))

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
                        f"with {what} labels you returned {value:.4f}, expected 1.0000 "
                        "(every label is the class the model predicts)"
                        + (f": {why}" if why else "")
                    )

            return check

        def deterministic():
            first, second = run(net.train(), X, y), run(net.train(), X, y)
            if first != second:
                return (
                    f"two calls on the same data gave {first:.4f} and {second:.4f}: dropout was "
                    "active during the forward pass (expected the same accuracy every time)"
                )

        def bn_untouched():
            before = _bn_stats(net)
            run(net.train(), X, y)
            if not _same(before, _bn_stats(net)):
                return (
                    "BatchNorm's running statistics changed during your function, so the "
                    "forward pass ran with BatchNorm in train mode (expected: eval mode, "
                    "statistics untouched)"
                )

        def eval_value():
            value = run(net.train(), X, y)
            if abs(value - expected) > 1e-6:
                return f"returned {value:.4f}, expected {expected:.4f} (the model in eval mode)"

        def batch_of_one():
            value = run(net.train(), X[:1], y[:1])
            if abs(value - expected_one) > 1e-6:
                return (
                    f"for a single sample you returned {value:.4f}, expected {expected_one:.4f} "
                    "(the model in eval mode, one comparison)"
                )

        def no_tracking():
            grad_seen.clear()
            run(net.eval(), X, y)
            if not grad_seen:
                return "your function never ran the model on X"
            if any(grad_seen):
                return (
                    "the forward pass ran with gradient tracking on: autograd recorded a graph "
                    "that an accuracy never needs (expected: tracking off during the pass)"
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
            ("a batch of one sample", batch_of_one),
            ("no gradient tracking", no_tracking),
            *_mode_checks(lambda m: run(m, X, y), net, net[1], exploding),
        ]
        return run_checks(
            "10.2",
            checks,
            hint="the gallery entries on modes (1 and 3), thresholds (13) and target shapes "
            "(11) each describe one of the problems; open the collapsed hints for the API.",
        )


# ---------------------------------------------------------------------------
# Capstone: validate(model, loader, loss_fn) -> dict
# ---------------------------------------------------------------------------

_KEYS = ("loss", "accuracy", "dropout_gap", "activation_bytes")


def _small_cnn(dropout: float, warm: torch.Tensor) -> SmallCNN:
    model = SmallCNN(n_classes=10, channels=(4, 8), hidden=16, dropout=dropout)
    _warm_up(model, warm)
    return model


def _repeatable_dropout(model: nn.Module) -> nn.Module:
    """Every dropout layer of ``model`` draws the same mask on every call (same shape).

    The layers stay ``nn.Dropout``/``nn.Dropout2d``: a pre-hook reseeds the random
    generator before each train-mode call, so the expected ``dropout_gap`` is exact.
    """

    def reseed(module: nn.Module, args: tuple) -> None:
        if module.training:
            torch.manual_seed(20)

    for module in model.modules():
        if isinstance(module, _DROPOUT):
            module.register_forward_pre_hook(reseed)
    return model


def _loader(X: torch.Tensor, y: torch.Tensor, batch_size: int) -> DataLoader:
    return DataLoader(TensorDataset(X, y), batch_size=batch_size)


def _switch_dropout(model: nn.Module, kinds: tuple[type, ...]) -> nn.Module:
    for module in model.modules():
        if isinstance(module, kinds):
            module.train()
    return model


def _gap_candidates(model: nn.Module, X: torch.Tensor, first: torch.Tensor) -> dict[str, float]:
    """The right dropout_gap and the values classic mistakes give, for a repeatable-dropout model."""

    def logits(x: torch.Tensor, kinds: tuple[type, ...] = ()) -> torch.Tensor:
        twin = _switch_dropout(copy.deepcopy(model).eval(), kinds)
        with torch.no_grad():
            return twin(x)

    off, on = logits(first), logits(first, _DROPOUT)
    with torch.no_grad():
        whole_train = copy.deepcopy(model).train()(first)
    return {
        "right": (on - off).abs().mean().item(),
        "max": (on - off).abs().max().item(),
        "signed": (on - off).mean().item(),
        "probabilities": (on.softmax(dim=1) - off.softmax(dim=1)).abs().mean().item(),
        "all of X": (logits(X, _DROPOUT) - logits(X)).abs().mean().item(),
        "only Dropout": (logits(first, (nn.Dropout,)) - off).abs().mean().item(),
        "only Dropout2d": (logits(first, (nn.Dropout2d,)) - off).abs().mean().item(),
        "whole model in train mode": (whole_train - off).abs().mean().item(),
    }


_GAP_MISTAKES = {
    "max": "you took the LARGEST absolute difference; expected the mean absolute difference",
    "signed": "you averaged the signed differences, so positive and negative ones cancel; "
    "expected the mean of their absolute values",
    "probabilities": "you compared probabilities (after softmax); expected the raw logits",
    "all of X": "you compared the passes over the whole data set; expected the first batch only",
    "only Dropout": "only the head's dropout layer (nn.Dropout) was active: the Dropout2d layer "
    "in the convolutional part stayed off (it is a different class, not a subclass)",
    "only Dropout2d": "only the Dropout2d layer was active: the head's nn.Dropout stayed off",
    "whole model in train mode": "in the 'dropout on' pass BatchNorm normalised with the batch's "
    "own statistics (the whole model was in train mode); expected only the dropout layers active",
}


def _activation_candidates(model: nn.Module, X: torch.Tensor, first: torch.Tensor) -> dict[str, int]:
    """The right activation_bytes and the values classic measuring mistakes give."""

    def measure(net: nn.Module, x: torch.Tensor, exclude) -> int:
        return saved_tensor_bytes(partial(net, x), "grad", exclude=exclude)

    ref = copy.deepcopy(model).eval()
    params, buffers = [*ref.parameters()], [*ref.buffers()]
    train_twin = copy.deepcopy(model).train()
    return {
        "right": measure(ref, first, [*params, *buffers, first]),
        "nothing excluded": measure(ref, first, []),
        "parameters only": measure(ref, first, params),
        "buffers kept": measure(ref, first, [*params, first]),
        "batch kept": measure(ref, first, [*params, *buffers]),
        "train mode": measure(train_twin, first, [*train_twin.parameters(), *train_twin.buffers(), first]),
        "all of X": measure(ref, X, [*params, *buffers, X]),
    }


_BYTES_MISTAKES = {
    "nothing excluded": "you counted everything autograd saves, the weights and the batch included; "
    "expected only what exists because of tracking (leave out parameters, buffers and the batch)",
    "parameters only": "you left out the parameters but still counted the batch and BatchNorm's "
    "buffers, which exist anyway",
    "buffers kept": "you still counted BatchNorm's running statistics (buffers), which exist anyway",
    "batch kept": "you still counted the input batch, which exists anyway",
    "train mode": "you measured the model in train mode; expected the eval-mode forward pass",
    "all of X": "you measured a pass over the whole data set; expected one pass on the first batch",
}


def _report(result: object) -> dict:
    if not isinstance(result, dict):
        raise AssertionError(f"validate should return a dict with keys {_KEYS}, got {_describe(result)}")
    missing = [k for k in _KEYS if k not in result]
    if missing:
        raise AssertionError(f"the dict has no {', '.join(repr(k) for k in missing)}; it needs {_KEYS}")
    for key in ("loss", "accuracy", "dropout_gap"):
        _python_float(result[key], repr(key))
    value = result["activation_bytes"]
    if isinstance(value, bool) or not isinstance(value, int):
        raise AssertionError(
            f"'activation_bytes' should be the int saved_tensor_bytes returns, got {_describe(value)}"
        )
    if not 0.0 <= result["accuracy"] <= 1.0:
        raise AssertionError(
            f"accuracy {result['accuracy']} is not a fraction between 0 and 1 (not a percentage)"
        )
    return result


def check_capstone(validate: Callable) -> CheckResult:
    """Check ``validate(model, loader, loss_fn) -> dict``.

    The dict holds ``"loss"`` and ``"accuracy"`` (eval mode, no tracking, every
    batch of the loader weighted by its size), ``"dropout_gap"`` (first batch:
    mean absolute logit difference between every dropout layer on and all
    off, BatchNorm in eval mode) and ``"activation_bytes"``
    (``saved_tensor_bytes`` of one eval-mode pass on the first batch with
    tracking on, leaving out the model's parameters and buffers and the batch).
    Modes, BatchNorm statistics and the grad switch must be as before, also
    when the forward pass raises.
    """
    with sandbox(seed=1011):
        digits = digits_images(seed=3)
        X, y = digits.X_test[:150].clone(), digits.y_test[:150].clone()  # batches 64, 64, 22
        first = X[:64].clone()
        cnn = _small_cnn(0.3, digits.X_train[:256])
        repeatable = _repeatable_dropout(copy.deepcopy(cnn))
        no_dropout = _small_cnn(0.0, digits.X_train[:256])
        exploding = _Exploding(_small_cnn(0.3, digits.X_train[:64]).features)
        loss_fn = nn.CrossEntropyLoss()
        ref = copy.deepcopy(cnn).eval()
        with torch.no_grad():
            logits = ref(X)
            expected = {"loss": loss_fn(logits, y).item(),
                        "accuracy": (logits.argmax(dim=1) == y).float().mean().item()}
        gaps = _gap_candidates(repeatable, X, first)
        memory = _activation_candidates(cnn, X, first)
        memory_40 = _activation_candidates(cnn, X, X[:40].clone())["right"]
        forwards: list[tuple[int, bool]] = []  # (batch size, tracking on) of every forward
        # on the first layer, not on the model: model.forward(x) runs it too
        cnn.features[0].register_forward_pre_hook(
            lambda _m, args: forwards.append((args[0].shape[0], torch.is_grad_enabled()))
        )

        def run(model: nn.Module, batch_size: int = 64) -> dict:
            try:
                result = validate(model, _loader(X, y, batch_size), loss_fn)
            except RuntimeError as exc:
                if "Inference tensors cannot be saved" in str(exc):
                    raise AssertionError(
                        "autograd refused to save a batch that was created inside "
                        "inference_mode() (an inference tensor) when you measured with "
                        "tracking on; the batch you measure must be an ordinary tensor "
                        "(gallery entry 8)"
                    ) from None
                raise
            return _report(result)

        def metrics(got: dict, exp: dict) -> bool:
            return abs(got["loss"] - exp["loss"]) < 1e-5 and abs(got["accuracy"] - exp["accuracy"]) < 1e-6

        def unweighted(batch_size: int) -> dict:
            with torch.no_grad():
                parts = [(loss_fn(ref(xb), yb).item(), (ref(xb).argmax(dim=1) == yb).float().mean().item())
                         for xb, yb in _loader(X, y, batch_size)]
            return {"loss": sum(p[0] for p in parts) / len(parts),
                    "accuracy": sum(p[1] for p in parts) / len(parts)}

        def returns_report():
            run(cnn.train())

        def deterministic():
            # on two identical copies, so that a change to BatchNorm's statistics (checked
            # next) cannot make the second call differ
            first_call, second_call = run(copy.deepcopy(cnn).train()), run(copy.deepcopy(cnn).train())
            if (first_call["loss"], first_call["accuracy"]) != (second_call["loss"], second_call["accuracy"]):
                return (
                    f"two calls gave loss {first_call['loss']:.4f} and {second_call['loss']:.4f}: "
                    "dropout was active while the loss and accuracy were computed (expected the "
                    "same numbers every time)"
                )

        def bn_untouched():
            before = _bn_stats(cnn)
            run(cnn.train())
            if not _same(before, _bn_stats(cnn)):
                return (
                    "BatchNorm's running statistics changed, so some forward pass ran with "
                    "BatchNorm in train mode (expected: BatchNorm in eval mode in every pass, "
                    "the dropout-on pass included)"
                )

        def right_metrics(batch_size: int, what: str):
            def check():
                got = run(cnn.train(), batch_size)
                if metrics(got, expected):
                    return None
                plain = unweighted(batch_size)
                loss_plain = abs(got["loss"] - plain["loss"]) < 1e-5
                accuracy_plain = (abs(got["accuracy"] - plain["accuracy"]) < 1e-6
                                  and abs(plain["accuracy"] - expected["accuracy"]) > 1e-6)
                if loss_plain or accuracy_plain:
                    return (
                        f"with {what} you averaged the per-batch means, so the short last batch "
                        "counted as much as a full one; expected the mean over all samples "
                        "(each batch weighted by its size)"
                    )
                return (
                    f"with {what}: loss {got['loss']:.5f} and accuracy {got['accuracy']:.4f}, "
                    f"expected {expected['loss']:.5f} and {expected['accuracy']:.4f} (the model in "
                    "eval mode on every sample; the predicted class is the largest logit)"
                )

            return check

        def in_batches():
            forwards.clear()
            run(cnn.eval(), batch_size=40)
            sizes = {size for size, _ in forwards}
            if 30 not in sizes:
                return (
                    f"with batches of 40 your forward passes had sizes {sorted(sizes)}, expected "
                    "the loader's batches (40, 40, 40 and 30), one pass each"
                )

        def metrics_untracked():
            forwards.clear()
            run(cnn.eval())
            if any(tracked for size, tracked in forwards if size == 22):
                return (
                    "the loss and accuracy passes ran with gradient tracking on; expected "
                    "tracking off (nothing recorded) while validating"
                )

        def dropout_gap_value():
            gap = run(repeatable.eval())["dropout_gap"]
            if abs(gap - gaps["right"]) <= 1e-5 * max(1.0, gaps["right"]):
                return None
            if gap == 0:
                return (
                    "dropout_gap is 0.0: the two passes on the first batch gave identical "
                    "logits, so dropout was on in both or off in both (expected one pass with "
                    "every dropout layer on and one with every dropout layer off)"
                )
            for name, mistake in _GAP_MISTAKES.items():
                if abs(gap - gaps[name]) <= 1e-5 * max(1.0, abs(gaps[name])):
                    return f"dropout_gap is {gap:.4f}, expected {gaps['right']:.4f}: {mistake}"
            return (
                f"dropout_gap is {gap:.4f}, expected {gaps['right']:.4f} (first batch: mean absolute "
                "difference of the logits, every dropout layer on vs all off, BatchNorm in eval)"
            )

        def dropout_gap_is_dropout_only():
            gap = _report(validate(no_dropout.eval(), _loader(X, y, 64), loss_fn))["dropout_gap"]
            if abs(gap) > 1e-6:
                return (
                    f"for a CNN whose dropout has p=0 the gap should be 0, got {gap:.4f}: something "
                    "besides dropout changed between the two passes (BatchNorm in train mode?)"
                )

        def activation_bytes():
            got = run(cnn.eval())["activation_bytes"]
            if got == memory["right"]:
                smaller = run(cnn.eval(), batch_size=40)["activation_bytes"]
                if smaller == memory_40:
                    return None
                if smaller == got:
                    return (
                        f"activation_bytes is {got:,} for batches of 64 and of 40 alike, expected "
                        f"{memory_40:,} for 40: the number does not come from measuring the batch"
                    )
                return f"with batches of 40, activation_bytes is {smaller:,}, expected {memory_40:,}"
            if got == 0:
                return (
                    "activation_bytes is 0: the measured pass ran without tracking, so autograd "
                    "saved nothing; expected what it saves WITH tracking on"
                )
            for name, mistake in _BYTES_MISTAKES.items():
                if got == memory[name]:
                    return f"activation_bytes is {got:,}, expected {memory['right']:,}: {mistake}"
            return (
                f"activation_bytes is {got:,}, expected {memory['right']:,} (one eval-mode pass on "
                "the first batch, tracking on, without the parameters, buffers and batch)"
            )

        checks: list[Check] = [
            _is_function(validate, "validate"),
            (f"returns a dict with {', '.join(_KEYS)}", returns_report),
            ("same loss and accuracy twice", deterministic),
            ("BatchNorm running statistics unchanged", bn_untouched),
            ("loss and accuracy in eval mode, weighted by batch size",
             right_metrics(64, "batches of 64 (the last one 22)")),
            ("a last batch of one sample", right_metrics(149, "batches of 149 (the last one 1)")),
            ("one forward pass per batch of the loader", in_batches),
            ("metric passes without gradient tracking", metrics_untracked),
            ("dropout_gap: every dropout layer on, first batch, mean |difference|", dropout_gap_value),
            ("dropout_gap is 0 when dropout has p=0", dropout_gap_is_dropout_only),
            ("activation_bytes: what tracking adds on the first batch", activation_bytes),
            *_mode_checks(run, cnn, cnn.features[1], exploding),
        ]
        return run_checks(
            "10.3",
            checks,
            hint="the collapsed hints under the task name the API; gallery entries 1, 4, 7 and 8 "
            "show the problems this function must avoid.",
        )
