"""Checkers for notebook 03: ``eval()``, ``no_grad()`` and ``inference_mode()``.

* :func:`check_exercise_1` -- a reusable ``validate(model, X, y, loss_fn)`` that
  leaves no trace: eval mode (for every layer, a custom one that reads
  ``self.training`` included) without tracking, every submodule's mode given
  back (mixed and nested models, and when the forward pass raises, whose error
  must reach the caller), the grad switch as the caller had it.
* :func:`check_exercise_2` -- ``which_context(out_a, out_b)``: tell the mode
  and the grad context from two forward passes of a model *without dropout*
  (BatchNorm only) on two batches that share their first example.
* :func:`check_exercise_3` -- ``extract_features(backbone, X)``, the fixed
  version of a buggy feature extractor: features a new head can be trained on,
  from a backbone in eval mode (its custom layer too), computed without
  tracking, with the backbone's modes (frozen, mixed down to a layer inside a
  block, or after an error, which must reach the caller) and the grad switch
  left as they were.

Every checker builds its own small models and data inside
``torch.random.fork_rng``, so calling it does not move the notebook's random
stream, and it puts the grad-enabled switch back if the learner's code left it
off. Failure messages describe what the answer did and what was expected,
never the code to write.
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


def _mode_names(flags: list[bool]) -> str:
    train = sum(flags)
    return f"{train} in train mode, {len(flags) - train} in eval mode"


def _nested_model(n_in: int, n_out: int) -> nn.Sequential:
    """Blocks inside blocks, with BatchNorm and dropout: a mixed-mode test needs depth."""
    return nn.Sequential(
        nn.Sequential(nn.Linear(n_in, 16), nn.BatchNorm1d(16), nn.ReLU()),
        nn.Sequential(nn.Linear(16, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5)),
        nn.Linear(16, n_out),
    )


class _SharedRecord(list):
    """A list that a deep copy shares instead of copying: the calls of a copy of the layer count too."""

    def __deepcopy__(self, memo: dict) -> _SharedRecord:
        return self


class _ModeAware(nn.Module):
    """A custom layer, neither Dropout nor BatchNorm, that reads ``self.training``.

    In train mode it halves its input (as a team's own noise or scaling layer
    might); in eval mode it passes it on. It records the mode of every call,
    its copies' calls included (a learner may run a deep copy of the model).
    """

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[bool] = _SharedRecord()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(self.training)
        return x * 0.5 if self.training else x


def _call_ignoring_errors(fn: Callable[[], object]) -> bool:
    """Run ``fn`` and swallow what it raises: the check looks at the state afterwards.

    Returns True if ``fn`` raised (the error reached the checker), False if it returned.
    """
    try:
        fn()
    except Exception:  # noqa: BLE001 - the error is expected; the state after it is checked
        return True
    return False


def _swallowed(what: str) -> str:
    return (
        "when the forward pass raised an error (an input with 3 features instead of 2), your "
        f"function returned {what} instead of letting the error reach the caller: a wrong "
        "input would go unnoticed. Give the modes back, but let the error through"
    )


def _custom_layer_message(seen: list[bool]) -> str | None:
    if not seen:
        return "the custom layer at the end of the model was never called"
    if any(seen):
        return (
            "the model ends in a custom layer of its own (neither Dropout nor BatchNorm) that "
            "reads self.training, and it ran in train mode: your function switched only some "
            "layer types to eval mode. Every layer may depend on the mode, so all of them must "
            "be switched"
        )
    return None


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
        raise AssertionError(f"validate should return a pair (loss, acc), got {_describe(result)}")
    for name, value in zip(("loss", "acc"), result, strict=True):
        if isinstance(value, torch.Tensor):
            raise AssertionError(
                f"{name} is a tensor; expected a plain Python float, so that no tensor "
                "(and no graph) outlives the function"
            )
        if isinstance(value, bool) or not isinstance(value, float):
            raise AssertionError(f"{name} should be a Python float, got {_describe(value)}")
    return result[0], result[1]


def check_exercise_1(validate: Callable) -> CheckResult:
    """Check ``validate(model, X, y, loss_fn) -> (loss, acc)``.

    It must run the model in eval mode without gradient tracking, return two
    Python floats, leave BatchNorm running statistics untouched, give back
    every submodule's previous mode (train, eval, mixed, nested; also when the
    forward pass raises) and leave the grad switch as the caller had it.
    """
    if not callable(validate):
        return run_checks(
            "3.1",
            [function_check(validate, "validate")],
            hint="define the function in a cell, then pass its name to the checker",
        )
    with sandbox(0):
        data = make_dataset("moons", n_samples=200, noise=0.2, seed=3)
        X, y = data.X_test, data.y_test
        model = make_mlp(2, 1, hidden=(32, 32), dropout=0.5, batchnorm=True)
        with torch.no_grad():  # give BatchNorm running stats that are not the defaults
            for _ in range(5):
                model(data.X_train)
            # shift the output so that the model calls about half of X class 1; the shift is
            # the mean of the two middle logits, so no logit lies at (or within float noise
            # of) 0, where "> 0" and "sigmoid >= 0.5" would disagree from CPU to CPU
            middle = copy.deepcopy(model).eval()(X).flatten().sort().values
            model[-1].bias -= middle[len(middle) // 2 - 1 : len(middle) // 2 + 1].mean()
            assert copy.deepcopy(model).eval()(X).abs().min() > 1e-3, "a logit lies at 0"
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
                    f"two calls on the same data gave {shown[0]} and {shown[1]}: dropout was "
                    "active during your forward pass, so the model was still in train mode"
                )

        def bn_stats_untouched():
            before = _bn_stats(model)
            validate(model.train(), X, y, loss_fn)
            if not _same(before, _bn_stats(model)):
                return (
                    "BatchNorm's running_mean/running_var changed: the validation data updated "
                    "them, which BatchNorm does only in train mode"
                )

        def right_values():
            loss, acc = _floats(validate(model.train(), X, y, loss_fn))
            if abs(loss - expected[0]) > 1e-5:
                return f"loss {loss:.5f}, expected {expected[0]:.5f} (the model in eval mode on all of X)"
            if abs(acc - expected[1]) > 1e-6:
                return (
                    f"accuracy {acc:.4f}, expected {expected[1]:.4f}: with one logit column a "
                    "positive logit means class 1, compared with y"
                )

        with torch.no_grad():
            ref_pred = (copy.deepcopy(model).eval()(X) > 0).float()
        # one example the model calls class 1, one it calls class 0
        singles = [int(torch.nonzero(ref_pred[:, 0] == c)[0]) for c in (1.0, 0.0)]

        def batch_of_one():
            for i in singles:
                want = _reference_validate(model, X[i : i + 1], y[i : i + 1], loss_fn)
                got = _floats(validate(model.train(), X[i : i + 1], y[i : i + 1], loss_fn))
                if abs(got[0] - want[0]) > 1e-5 or got[1] != want[1]:
                    return (
                        f"on a batch of ONE example you returned ({got[0]:.5f}, {got[1]:.1f}), "
                        f"expected ({want[0]:.5f}, {want[1]:.1f}): the logits then have shape (1, 1), "
                        "still one column"
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
                    f"expected ({want[0]:.5f}, {want[1]:.4f}): with several logit columns the "
                    "predicted class is the column with the largest logit"
                )

        def no_graph():
            seen_grad.clear()
            validate(model.train(), X, y, loss_fn)
            if not seen_grad:
                return "the model's forward was never called"
            if any(seen_grad):
                return (
                    "the forward pass ran with gradient tracking on, so autograd recorded a "
                    "graph and kept activations for a backward pass that never comes"
                )

        def train_comes_back():
            validate(model.train(), X, y, loss_fn)
            if not all(_modes(model)):
                return (
                    "a model that was in train mode came back in eval mode: the next epoch "
                    "would train without dropout"
                )

        def eval_stays():
            validate(model.eval(), X, y, loss_fn)
            if any(_modes(model)):
                return (
                    "a model that was in eval mode came back in train mode: your function "
                    "switched it to train mode instead of giving back the mode it had"
                )

        def mixed_nested_comes_back():
            nested = _nested_model(2, 1)
            with torch.no_grad():
                nested(data.X_train)
            nested.train()
            nested[0][1].eval()  # a BatchNorm deep inside a block frozen, as when fine-tuning
            before = _modes(nested)
            validate(nested, X, y, loss_fn)
            after = _modes(nested)
            if after != before:
                return (
                    "a model with MIXED modes (a BatchNorm inside a block in eval mode, the rest "
                    f"in train mode: {_mode_names(before)}) came back with {_mode_names(after)}: "
                    "some submodule did not get its own mode back"
                )

        def restored_after_error():
            model.train()
            model[1].eval()
            before = _modes(model)
            bad_X = torch.randn(len(X), 3)  # wrong number of features: the forward pass raises
            _call_ignoring_errors(lambda: validate(model, bad_X, y, loss_fn))
            after = _modes(model)
            model.train()
            if after != before:
                return (
                    "when the forward pass raised an error (an input with 3 features instead of "
                    f"2), the model stayed with {_mode_names(after)} instead of {_mode_names(before)}: "
                    "the code that gives the modes back did not run"
                )

        def custom_layer_switched():
            custom = _ModeAware()
            net = nn.Sequential(copy.deepcopy(model), custom).train()
            validate(net, X, y, loss_fn)
            return _custom_layer_message(custom.seen)

        def error_reaches_caller():
            model.train()
            bad_X = torch.randn(len(X), 3)
            try:
                result = validate(model, bad_X, y, loss_fn)
            except Exception:  # noqa: BLE001 - any error of the forward pass may come through
                return None
            finally:
                model.train()
            return _swallowed(_describe(result))

        def grad_on_stays_on():
            torch.set_grad_enabled(True)
            validate(model.train(), X, y, loss_fn)
            if not torch.is_grad_enabled():
                return (
                    "gradient tracking was on before your function and is off after it: the "
                    "caller's next training step would silently record nothing"
                )

        def grad_off_stays_off():
            with torch.no_grad():
                validate(model.train(), X, y, loss_fn)
                still_off = not torch.is_grad_enabled()
            if not still_off:
                return (
                    "called inside a caller's no_grad() block, your function switched gradient "
                    "tracking back ON for the rest of the caller's block"
                )

        checks: list[Check] = [
            ("returns (loss, acc) as two Python floats", returns_floats),
            ("same result when called twice", deterministic),
            ("BatchNorm running statistics unchanged", bn_stats_untouched),
            ("loss and accuracy in eval mode", right_values),
            ("a batch of one example", batch_of_one),
            ("multi-class accuracy", multi_class),
            ("no graph recorded", no_graph),
            ("train mode restored", train_comes_back),
            ("eval mode kept", eval_stays),
            ("mixed modes in a nested model restored", mixed_nested_comes_back),
            ("a custom mode-dependent layer switched too", custom_layer_switched),
            ("modes restored when the forward pass raises", restored_after_error),
            ("the forward pass's error reaches the caller", error_reaches_caller),
            ("grad switch left on", grad_on_stays_on),
            ("grad switch left off inside the caller's no_grad()", grad_off_stays_off),
        ]
        return run_checks(
            "3.1",
            checks,
            hint="two jobs: switch the model and autograd for the pass, then undo exactly what "
            "you switched, layer by layer, whatever happens during the pass.",
        )


# ---------------------------------------------------------------------------
# Exercise 2: which_context(out_a, out_b) -> (mode, grad_mode), BatchNorm only
# ---------------------------------------------------------------------------


def _bn_model() -> nn.Sequential:
    """BatchNorm, no dropout: two passes on the SAME batch agree in both modes."""
    return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))


def _two_batches(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two batches of ``n`` that share their first example; their statistics differ."""
    xa = torch.randn(n, 4)
    xb = torch.randn(n, 4) * 2 + 1.5
    xb[0] = xa[0]
    return xa, xb


def check_exercise_2(which_context: Callable) -> CheckResult:
    """Check ``which_context(out_a, out_b) -> (mode, grad_mode)``.

    ``out_a, out_b = model(xa), model(xb)``: one model with BatchNorm and no
    dropout, two batches of the same size whose first example is the same. The
    answer is ``("train" | "eval", "grad" | "no_grad" | "inference_mode")``.
    """
    if not callable(which_context):
        return run_checks(
            "3.2",
            [function_check(which_context, "which_context")],
            hint="define the function in a cell, then pass its name to the checker",
        )
    with sandbox(seed=1):
        model = _bn_model()
        with torch.no_grad():  # running statistics that are not the defaults
            for _ in range(10):
                model(torch.randn(32, 4) * 1.5 + 0.5)
        batches = [_two_batches(16), _two_batches(5)]

        def answer_for(mode: str, grad_mode: str, xa: torch.Tensor, xb: torch.Tensor):
            model.train(mode == "train")
            with grad_context(grad_mode):
                out_a, out_b = model(xa), model(xb)
            got = which_context(out_a, out_b)
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise AssertionError(
                    f"return a pair of two names, a mode and a context, got {_describe(got)}"
                )
            if got[0] not in MODES or got[1] not in GRAD_MODES:
                raise AssertionError(
                    f"answer with a mode from {MODES} and a context from {GRAD_MODES}, got {tuple(got)!r}"
                )
            return tuple(got)

        def explain(mode: str, grad_mode: str, got: tuple) -> str:
            made = f"outputs made in {mode} mode under {grad_mode}"
            if got[0] != mode:
                if mode == "eval":
                    return (
                        f"{made} were labelled {got!r}. The two batches differ everywhere except "
                        "in their first example, so whole outputs never agree; in eval mode "
                        "BatchNorm uses its running statistics and that shared example gets the "
                        "same output in both batches. Whether autograd recorded the pass says "
                        "nothing about the mode"
                    )
                return (
                    f"{made} were labelled {got!r}. In train mode BatchNorm normalises each batch "
                    "with that batch's own statistics, so even the shared first example gets "
                    "different outputs. Whether autograd recorded the pass says nothing about "
                    "the mode"
                )
            if grad_mode == "inference_mode" or got[1] == "inference_mode":
                return (
                    f"{made} were labelled {got!r}. no_grad and inference_mode both give outputs "
                    "that do not require grad; only whether an output is an inference tensor "
                    "tells them apart"
                )
            return (
                f"{made} were labelled {got!r}. An output requires grad (and has a grad_fn) "
                "exactly when autograd recorded the pass"
            )

        def case(mode: str, grad_mode: str):
            def check():
                for xa, xb in batches:
                    got = answer_for(mode, grad_mode, xa, xb)
                    if got != (mode, grad_mode):
                        return explain(mode, grad_mode, got)

            return check

        checks: list[Check] = [
            (f"{mode} mode under {grad_mode}", case(mode, grad_mode))
            for grad_mode in GRAD_MODES
            for mode in MODES
        ]
        return run_checks(
            "3.2",
            checks,
            hint="without dropout, what still depends on the mode is how BatchNorm normalises; "
            "look at the one example both batches contain. For the context, ask the output "
            "the same two questions as in section 2.",
        )


# ---------------------------------------------------------------------------
# Exercise 3: extract_features(backbone, X) -> features to train a head on
# ---------------------------------------------------------------------------


def _backbone() -> nn.Sequential:
    """Two blocks; the second ends in a custom layer that reads ``self.training``."""
    return nn.Sequential(
        nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU()),
        nn.Sequential(nn.Linear(16, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), _ModeAware()),
    )


def _half_frozen(backbone: nn.Sequential) -> list[bool]:
    """First block frozen, and the BatchNorm INSIDE the fine-tuned second block frozen too."""
    backbone.train()
    backbone[0].eval()
    backbone[1][1].eval()
    return _modes(backbone)


def check_exercise_3(extract_features: Callable) -> CheckResult:
    """Check ``extract_features(backbone, X) -> features``.

    The features must come from the backbone in eval mode (every layer,
    including a custom one that reads ``self.training``), be computed without
    gradient tracking, be ordinary tensors (not inference tensors) so a new
    head can be trained on them, and leave the backbone's modes (train, frozen
    in eval, mixed down to a layer inside a block, and after a forward pass
    that raises, whose error must reach the caller), its BatchNorm statistics
    and the grad switch (on, or off inside the caller's ``no_grad()``) as they
    were.
    """
    if not callable(extract_features):
        return run_checks(
            "3.3",
            [function_check(extract_features, "extract_features")],
            hint="define the function in a cell, then pass its name to the checker",
        )
    with sandbox(seed=2):
        backbone = _backbone()
        X = make_dataset("moons", n_samples=120, noise=0.2, seed=5).X_train
        with torch.no_grad():
            for _ in range(5):
                backbone(X)
        with torch.no_grad():
            expected = copy.deepcopy(backbone).eval()(X)
        grad_seen: list[bool] = []
        backbone.register_forward_hook(lambda *_: grad_seen.append(torch.is_grad_enabled()))

        def features(train: bool = True) -> torch.Tensor:
            out = extract_features(backbone.train(train), X)
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
                    "these are inference tensors (made under inference_mode()): autograd "
                    "refuses to save them, so a head cannot be trained on them; making a "
                    "detached view of one does not change that"
                )

        def no_graph():
            out = features()
            if out.requires_grad or out.grad_fn is not None:
                return (
                    "the features carry a graph back into the backbone (requires_grad=True): "
                    "every head update would also backpropagate through the frozen backbone "
                    "and keep its activations"
                )

        def no_tracking():
            grad_seen.clear()
            features()
            if not grad_seen:
                return "the backbone's forward was never called"
            if any(grad_seen):
                return (
                    "the backbone's forward pass ran with gradient tracking on: autograd "
                    "recorded a graph and saved every activation, even though the features you "
                    "returned no longer point to it. Cutting the graph afterwards does not undo "
                    "the memory the pass used"
                )

        def custom_layer_eval():
            custom = backbone[1][-1]
            custom.seen.clear()
            features()
            if custom.seen and any(custom.seen):
                return (
                    "the backbone's last block ends in a custom layer (neither Dropout nor "
                    "BatchNorm) that reads self.training, and it ran in train mode: your function "
                    "switched only some layer types to eval mode. Every layer may depend on the "
                    "mode, so all of them must be switched"
                )

        def grad_on_stays_on():
            torch.set_grad_enabled(True)
            features()
            if not torch.is_grad_enabled():
                return (
                    "gradient tracking was on before your function and is off after it: the head "
                    "you train next on these features would get no gradient (its loss.backward() "
                    "fails with 'element 0 of tensors does not require grad')"
                )

        def grad_off_stays_off():
            with torch.no_grad():
                features()
                still_off = not torch.is_grad_enabled()
            if not still_off:
                return (
                    "called inside a caller's no_grad() block, your function switched gradient "
                    "tracking back ON for the rest of the caller's block"
                )

        def head_trains():
            out = features()
            head = nn.Linear(out.shape[1], 1)
            head(out).pow(2).mean().backward()
            if head.weight.grad is None:
                return "the head got no gradient from a loss computed on your features"

        def deterministic():
            if not torch.equal(features(), features()):
                return (
                    "two calls gave different features: dropout was active, so the backbone "
                    "was in train mode during your forward pass"
                )

        def bn_untouched():
            before = _bn_stats(backbone)
            features()
            if not _same(before, _bn_stats(backbone)):
                return (
                    "BatchNorm's running statistics changed: they move only when the backbone "
                    "runs in train mode"
                )

        def right_values():
            if not torch.allclose(features(), expected, atol=1e-6):
                return "the features differ from the backbone's output in eval mode"

        def train_restored():
            features(train=True)
            if not all(_modes(backbone)):
                return (
                    "a backbone in train mode came back in eval mode: a backbone that is being "
                    "fine-tuned would stop using dropout and updating BatchNorm"
                )

        def frozen_stays_eval():
            features(train=False)
            if any(_modes(backbone)):
                after = _modes(backbone)
                return (
                    "a FROZEN backbone, kept in eval mode while a head trains, came back with "
                    f"{_mode_names(after)}: your function un-froze it (its dropout and BatchNorm "
                    "would now act as in training)"
                )

        def mixed_restored():
            before = _half_frozen(backbone)
            extract_features(backbone, X)
            after = _modes(backbone)
            if after != before:
                return (
                    f"a backbone with MIXED modes ({_mode_names(before)}: the first block frozen, "
                    "and the BatchNorm inside the fine-tuned second block frozen too) came back "
                    f"with {_mode_names(after)}: some submodule did not get its own mode back"
                )

        raised: list[bool] = []

        def restored_after_error():
            before = _half_frozen(backbone)
            bad_X = torch.randn(len(X), 3)  # wrong number of features: the forward pass raises
            raised.append(_call_ignoring_errors(lambda: extract_features(backbone, bad_X)))
            after = _modes(backbone)
            if after != before:
                return (
                    "when the forward pass raised an error (an input with 3 features instead of "
                    f"2), a half-frozen backbone was left with {_mode_names(after)} instead of "
                    f"{_mode_names(before)}: the code that gives the modes back did not run"
                )

        def error_reaches_caller():
            if not raised[-1]:
                return _swallowed("normally")

        checks: list[Check] = [
            ("returns a feature tensor", is_tensor),
            ("not an inference tensor", ordinary_tensor),
            ("no graph attached", no_graph),
            ("no tracking during the forward pass", no_tracking),
            ("grad switch left on", grad_on_stays_on),
            ("grad switch left off inside the caller's no_grad()", grad_off_stays_off),
            ("a head can be trained on them", head_trains),
            ("same features twice", deterministic),
            ("a custom mode-dependent layer in eval mode", custom_layer_eval),
            ("BatchNorm running statistics unchanged", bn_untouched),
            ("eval-mode values", right_values),
            ("a backbone in train mode comes back in train mode", train_restored),
            ("a frozen backbone stays in eval mode", frozen_stays_eval),
            ("mixed modes restored", mixed_restored),
            ("modes restored when the forward pass raises", restored_after_error),
            ("the forward pass's error reaches the caller", error_reaches_caller),
        ]
        return run_checks(
            "3.3",
            checks,
            hint="these features will feed autograd later, and the backbone may be frozen, "
            "fine-tuned or half of each when your function is called: leave it exactly as "
            "you found it, even when something goes wrong.",
        )
