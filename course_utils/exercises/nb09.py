"""Checkers for notebook 09 · PyTorch vs Keras.

* :func:`check_exercise_1` -- ``keras_validate(model, x, y, batch_size)``: the
  repaired Keras validation loop of the "find the bugs" exercise. It runs every
  batch in inference mode (also for PyTorch layers wrapped inside the Keras
  model), records no autograd graph, leaves the model and gradient tracking as
  it found them, and returns the loss and accuracy of the whole set.
* :func:`check_exercise_2` -- ``torch_call(model, x, training=None)``: a
  Keras-style call for a PyTorch model, the mode given as an argument.

Failure messages say what the answer did and what was expected, never the code
to write. Keras is imported only inside :func:`check_exercise_1`, so importing
this module (and ``course_utils``) stays light and works without Keras
installed. When Keras has not been imported yet, the checker selects the
PyTorch backend first (``KERAS_BACKEND=torch``), as notebook 09 does.

Calling a checker does not move the caller's random streams: the hidden Keras
model gets an explicit seed for every initializer (so Keras's global seed
generator is not used), and everything runs with Python's, NumPy's and
PyTorch's generators saved and restored.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np
import torch
from torch import nn

from ..data import make_dataset
from ._core import Check, CheckResult, function_check, run_checks, sandbox
from ._probes import bn_stats as _running_stats
from ._probes import modes as _flags
from ._probes import same as _same

__all__ = ["check_exercise_1", "check_exercise_2"]

_SEED = 9


def _describe(value: object) -> str:
    if hasattr(value, "shape") and not isinstance(value, (float, int)):
        return f"a {type(value).__name__} of shape {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}"


def _two_floats(result: object, names: tuple[str, str] = ("loss", "accuracy")) -> tuple[float, float]:
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise AssertionError(f"expected a pair ({names[0]}, {names[1]}), got {_describe(result)}")
    for name, value in zip(names, result, strict=True):
        if isinstance(value, bool) or not isinstance(value, float):
            raise AssertionError(
                f"{name} should be a plain Python float, got {_describe(value)}"
            )
    return float(result[0]), float(result[1])


# ---------------------------------------------------------------------------
# Exercise 1: keras_validate(model, x, y, batch_size) -> (loss, accuracy)
# ---------------------------------------------------------------------------


def _import_keras() -> ModuleType:
    from ..keras_compare import import_keras

    try:
        return import_keras()
    except ImportError as exc:
        raise ImportError(f"check_exercise_1: {exc}") from exc


def _hidden_keras_model(keras: ModuleType, x: np.ndarray, y: np.ndarray) -> tuple[object, object]:
    """A small Keras classifier with BatchNormalization and a wrapped PyTorch dropout.

    Input -> spy -> Dense(16) -> BatchNormalization -> ReLU ->
    TorchModuleWrapper(nn.Dropout(0.5)) -> Dense(1). The spy (a
    :class:`course_utils.keras_compare.TrainingSpy`) records the rows of every
    batch and whether gradient tracking was on. The wrapped PyTorch dropout runs
    in train mode unless the call says ``training=False`` (Keras's
    ``TorchModuleWrapper`` treats a missing value as training). Every Keras
    initializer has its own seed, so building it leaves Keras's global seed
    generator alone. The output layer is rescaled so that the inference logits
    on ``x`` have a spread of 2, split near the median at a wide gap between two
    logits (no logit close to 0, where rounding could flip a prediction), and
    better than chance on ``y``.
    """
    from ..keras_compare import TrainingSpy

    layers, init = keras.layers, keras.initializers
    spy = TrainingSpy(name="nb09_spy")
    model = keras.Sequential(
        [
            keras.Input(shape=(2,)),
            spy,
            layers.Dense(16, kernel_initializer=init.GlorotUniform(seed=1), name="nb09_dense"),
            layers.BatchNormalization(momentum=0.9, name="nb09_bn"),
            layers.ReLU(name="nb09_relu"),
            layers.TorchModuleWrapper(nn.Dropout(0.5), name="nb09_torch_dropout"),
            layers.Dense(1, kernel_initializer=init.GlorotUniform(seed=3), name="nb09_logit"),
        ],
        name="nb09_hidden",
    )
    shifted = (np.linspace(-2.0, 3.0, 64, dtype="float32").reshape(32, 2)) * 1.5 + 0.5
    for _ in range(5):  # move the moving statistics away from their initial 0 and 1
        model(shifted, training=True)
    logit_layer = model.get_layer("nb09_logit")
    kernel, bias = logit_layer.get_weights()
    with torch.no_grad():
        z = keras.ops.convert_to_numpy(model(x, training=False)).ravel().astype(np.float64)
    zs = np.sort(z)
    middle = np.arange(int(0.35 * len(zs)), int(0.65 * len(zs)))
    i = middle[np.argmax(zs[middle + 1] - zs[middle])]
    split = (zs[i] + zs[i + 1]) / 2
    scale = 2.0 / z.std()
    if ((z > split) == (y.ravel() > 0.5)).mean() < 0.5:
        scale = -scale
    logit_layer.set_weights(
        [(kernel * scale).astype("float32"), ((bias - split) * scale).astype("float32")]
    )
    spy.calls.clear()
    return model, spy


def _bce_with_logits(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row binary cross-entropy computed from logits, in float64."""
    z, y = z.astype(np.float64), y.astype(np.float64)
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))


def _model_state(model: object, keras: ModuleType) -> dict[str, object]:
    """What validation must not change: trainable flags, weights, the dropout rate."""
    return {
        "trainable": [model.trainable] + [layer.trainable for layer in model.layers],
        "weights": [keras.ops.convert_to_numpy(w).copy() for w in model.weights],
        "dropout": model.get_layer("nb09_torch_dropout").module.p,
        "stats": [
            keras.ops.convert_to_numpy(v).copy()
            for v in (model.get_layer("nb09_bn").moving_mean, model.get_layer("nb09_bn").moving_variance)
        ],
    }


def _model_change(before: dict[str, object], after: dict[str, object], model: object) -> str | None:
    names = ["the model"] + [f"layer '{layer.name}'" for layer in model.layers]
    for name, was, now in zip(names, before["trainable"], after["trainable"], strict=True):
        if was != now:
            return f"{name} was trainable={was} before keras_validate and trainable={now} after it"
    if before["dropout"] != after["dropout"]:
        return (
            f"the dropout rate of layer 'nb09_torch_dropout' was {before['dropout']} before "
            f"keras_validate and {after['dropout']} after it"
        )
    if not all(np.array_equal(a, b) for a, b in zip(before["weights"], after["weights"], strict=True)):
        return "the model's weights are different after keras_validate"
    return None


def check_exercise_1(keras_validate: Callable) -> CheckResult:
    """Check ``keras_validate(model, x, y, batch_size) -> (loss, accuracy)``.

    On a hidden Keras model with BatchNormalization and a wrapped PyTorch
    dropout, it must call the model on consecutive batches of at most
    ``batch_size`` rows, each in inference mode (same result twice, moving
    statistics untouched) without recording an autograd graph; leave the model
    and torch's gradient tracking as they were; return the mean binary
    cross-entropy (from logits) and the accuracy (``logit > 0``) over *all*
    rows as two Python floats, for any batch size and any data; and raise
    ``ValueError`` for an empty data set.
    """
    hint = (
        "the message above names the symptom; Hint 1 in the exercise cell says which notebook "
        "section explains it, and Hint 2 lists the tools."
    )
    if not callable(keras_validate):
        return run_checks("9.1", [function_check(keras_validate, "keras_validate")])
    keras = _import_keras()
    with sandbox(_SEED):
        data = make_dataset("moons", n_samples=190, noise=0.25, seed=5)
        x, y = data.X_train.numpy(), data.y_train.numpy()  # 152 rows: batches of 64, 64, 24
        other = make_dataset("moons", n_samples=130, noise=0.3, seed=7)
        x2, y2 = other.X_train.numpy()[:97], other.y_train.numpy()[:97]  # a second data set
        model, spy = _hidden_keras_model(keras, x, y)
        bn = model.get_layer("nb09_bn")

        def reference(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, np.ndarray]:
            with torch.no_grad():
                logits = keras.ops.convert_to_numpy(model(xs, training=False)).astype(np.float64)
            per_row = _bce_with_logits(logits, ys).ravel()
            return float(per_row.mean()), float(((logits > 0) == (ys > 0.5)).mean()), logits

        want_loss, want_acc, _ = reference(x, y)
        want2_loss, want2_acc, logits2 = reference(x2, y2)
        if np.abs(logits2).min() < 1e-3:  # a prediction that rounding could flip
            raise RuntimeError("check_exercise_1: the second data set has a logit too close to 0")
        per_row = _bce_with_logits(reference(x, y)[2], y).ravel()
        unweighted_loss = float(np.mean([per_row[i : i + 64].mean() for i in range(0, len(x), 64)]))
        pristine = _model_state(model, keras)  # before the learner's code ran
        spy.calls.clear()

        def run(batch_size: int = 64, xs: np.ndarray = x, ys: np.ndarray = y) -> tuple[float, float]:
            return _two_floats(keras_validate(model, xs, ys, batch_size))

        def returns_floats():
            run()

        def batches():
            for size in (64, 50, 151, 1000):
                spy.calls.clear()
                run(size)
                rows = [c.rows for c in spy.calls]
                want = [min(size, len(x) - i) for i in range(0, len(x), size)]
                if rows != want:
                    return (
                        f"with batch_size={size} the model was called on batches of "
                        f"{rows or 'no'} rows; expected consecutive batches of at most {size} "
                        f"rows covering all {len(x)} rows once: {want}"
                    )
            return None

        def deterministic():
            first, second = run(), run()
            if first != second:
                return (
                    "two calls on the same data gave different results (the loss differs by "
                    f"{abs(first[0] - second[0]):.2g}): a dropout layer was active. This model "
                    "also holds a PyTorch dropout (wrapped for Keras), and that one runs in train "
                    "mode unless the call asks for inference explicitly"
                )

        def moving_stats_untouched():
            before = [keras.ops.convert_to_numpy(v).copy() for v in (bn.moving_mean, bn.moving_variance)]
            run()
            after = [keras.ops.convert_to_numpy(v) for v in (bn.moving_mean, bn.moving_variance)]
            if not all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)) or not all(
                np.array_equal(a, b) for a, b in zip(after, pristine["stats"], strict=True)
            ):
                return (
                    "BatchNormalization's moving_mean/moving_variance changed: the validation "
                    "batches ran in training behaviour and were averaged into the statistics"
                )

        def model_unchanged():
            run()
            change = _model_change(pristine, _model_state(model, keras), model)
            if change:
                return f"validation must leave the model as it found it, but {change}"

        def no_graph():
            spy.calls.clear()
            run()
            tracked = sum(c.grad_enabled for c in spy.calls)
            if tracked:
                return (
                    f"{tracked} of {len(spy.calls)} model calls ran with gradient tracking on: on "
                    "the PyTorch backend each of them recorded an autograd graph (and kept its "
                    "activations alive) that validation never uses"
                )

        def tracking_as_it_was():
            for enabled in (True, False):
                with torch.set_grad_enabled(enabled):
                    run()
                    now = torch.is_grad_enabled()
                if now != enabled and enabled:
                    return (
                        "gradient tracking was on before keras_validate and off after it, so the "
                        "next training step would compute no gradients: the caller's setting "
                        "must come back as it was"
                    )
                if now != enabled:
                    return (
                        "gradient tracking was off before keras_validate (the caller had "
                        "switched it off) and on after it: the caller's setting must come back "
                        "as it was, not be switched on regardless"
                    )
            return None

        def right_loss():
            loss, _ = run(64)
            if abs(loss - want_loss) <= 1e-5 * max(1.0, want_loss):
                return None
            if abs(loss - unweighted_loss) <= 1e-5:
                return (
                    f"loss {loss:.3f} is the plain average of the three batch losses, but the "
                    f"batches have 64, 64 and {len(x) - 128} rows: a row of the short last batch "
                    "counts more than a row of the others. The loss must be the mean over all rows"
                )
            return (
                f"loss {loss:.3f} is not the mean binary cross-entropy over all {len(x)} rows, "
                "computed from the logits"
            )

        def right_accuracy():
            _, acc = run(64)
            if abs(acc - want_acc) > 1e-6:
                return (
                    f"accuracy {acc:.3f} is not the fraction of all {len(x)} rows whose "
                    "prediction (class 1 when the logit is above 0) equals y"
                )

        def any_batch_size():
            for size in (50, 151, 1000):
                loss, acc = run(size)
                if abs(loss - want_loss) > 1e-5 * max(1.0, want_loss) or abs(acc - want_acc) > 1e-6:
                    return (
                        f"with batch_size={size} the result differs from batch_size=64 "
                        f"(loss {loss:.3f}, accuracy {acc:.3f}): the result must not depend on "
                        "how the rows are split into batches"
                    )

        def other_data():
            loss, acc = run(64, x2, y2)
            if abs(loss - want2_loss) > 1e-5 * max(1.0, want2_loss) or abs(acc - want2_acc) > 1e-6:
                return (
                    f"on a second data set ({len(x2)} other rows) the loss {loss:.3f} or the "
                    f"accuracy {acc:.3f} is not that of those rows: both must be computed "
                    "from the x and y passed in"
                )

        def empty_data():
            with torch.enable_grad():  # the usual caller: a training loop, tracking on
                try:
                    result = keras_validate(model, x[:0], y[:0], 64)
                except ValueError:
                    if not torch.is_grad_enabled():
                        return (
                            "with an empty x (0 rows) keras_validate raised ValueError, as "
                            "expected, but gradient tracking was on before the call and off "
                            "after it: the caller's setting must come back also when "
                            "keras_validate raises an error"
                        )
                    return None
                except Exception as exc:  # the learner's code failed in another way
                    return (
                        f"with an empty x (0 rows) keras_validate raised {type(exc).__name__}; a "
                        "mean over no rows does not exist, and the caller should learn that from a "
                        "ValueError that says the data is empty"
                    )
            return (
                f"with an empty x (0 rows) keras_validate returned {result!r}; a mean over no "
                "rows does not exist: expected a ValueError that says the data is empty"
            )

        def restored_after_error():
            bad = np.zeros((4, 3), dtype="float32")  # 3 features for a model that takes 2
            with torch.enable_grad():
                try:
                    keras_validate(model, bad, y[:4], 64)
                except Exception:  # the model's error, whatever its type, reached the caller
                    pass
                else:
                    return (
                        "the model raised an error on a batch with 3 features (it takes 2), but "
                        "keras_validate returned normally: the caller must see the error"
                    )
                if not torch.is_grad_enabled():
                    return (
                        "when the model raised an error, gradient tracking was left off (it was "
                        "on before keras_validate): the caller's setting must come back also "
                        "when the forward pass fails"
                    )
            return None

        checks: list[Check] = [
            ("returns (loss, accuracy) as two Python floats", returns_floats),
            ("the model is called batch by batch", batches),
            ("same result when called twice", deterministic),
            ("BatchNormalization moving statistics unchanged", moving_stats_untouched),
            ("the model is left as it was", model_unchanged),
            ("no autograd graph recorded", no_graph),
            ("gradient tracking left as it was", tracking_as_it_was),
            ("mean loss over all rows", right_loss),
            ("accuracy over all rows", right_accuracy),
            ("same numbers for any batch size", any_batch_size),
            ("right numbers on a second data set", other_data),
            ("an empty data set raises ValueError", empty_data),
            ("gradient tracking back when the model raises", restored_after_error),
        ]
        return run_checks("9.1", checks, hint=hint)


# ---------------------------------------------------------------------------
# Exercise 2: torch_call(model, x, training=None) -> output
# ---------------------------------------------------------------------------


class _Net(nn.Module):
    """Linear -> BatchNorm1d -> ReLU -> dropout -> Linear.

    The dropout is the functional one and reads the model's *own* flag, so a
    model whose children switch but whose root does not still drops units.
    """

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU())
        self.head = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(nn.functional.dropout(self.body(x), 0.5, self.training))


def _mode_name(flags: list[bool]) -> str:
    return "train" if all(flags) else "eval" if not any(flags) else "mixed"


def check_exercise_2(torch_call: Callable) -> CheckResult:
    """Check ``torch_call(model, x, training=None)``, a Keras-style call for PyTorch.

    ``training=True`` runs the whole model in train mode (dropout active,
    BatchNorm on batch statistics, running statistics updated) even if it was
    in eval mode; ``training=False`` and ``training=None`` (no argument, the
    default of Keras's own layers) run it in eval mode. Gradient tracking is
    left alone (a ``training=True`` output can be backpropagated). Afterwards
    every submodule has the mode it had before, mixed modes included, also when
    the forward pass raises.
    """
    hint = (
        "a model's mode is one flag per module, and the model itself has one too; think about "
        "which flags your call changes, where they were before, and what happens to them when "
        "the forward pass fails halfway."
    )
    if not callable(torch_call):
        return run_checks("9.2", [function_check(torch_call, "torch_call")])
    with sandbox(_SEED):
        data = make_dataset("moons", n_samples=200, noise=0.2, seed=4)
        x = data.X_test
        model = _Net()
        with torch.no_grad():  # running statistics that are not the initial 0 and 1
            for _ in range(5):
                model(data.X_train * 2 + 1)
        with torch.no_grad():
            expected = model.eval()(x)
        model.train()
        during: list[list[bool]] = []
        # On the body, not on the model: a hook on the model would miss a correct answer
        # that calls model.forward(x). The body runs in every forward pass and the hook
        # records the flags of every module, the model's own included.
        model.body.register_forward_pre_hook(lambda module, args: during.append(_flags(model)))

        def call(training: object = "omitted", keep_graph: bool = False) -> torch.Tensor:
            out = torch_call(model, x) if training == "omitted" else torch_call(model, x, training)
            if not isinstance(out, torch.Tensor):
                raise AssertionError(f"expected the model's output tensor, got {_describe(out)}")
            if tuple(out.shape) != tuple(expected.shape):
                raise AssertionError(
                    f"the output should have shape {tuple(expected.shape)}, got {tuple(out.shape)}"
                )
            return out if keep_graph else out.detach()

        def returns_output():
            call(False)

        def false_is_eval():
            model.train()
            if not torch.equal(call(False), call(False)):
                return (
                    "two calls with training=False on a model in train mode gave different "
                    "outputs: dropout was still active during the call"
                )

        def false_keeps_stats():
            model.train()
            before = _running_stats(model)
            call(False)
            if not _same(before, _running_stats(model)):
                return (
                    "training=False changed BatchNorm's running_mean/running_var: BatchNorm "
                    "ran in train mode during the call"
                )

        def eval_values():
            model.train()
            if not torch.allclose(call(False), expected, atol=1e-6):
                return "with training=False the output differs from the model's eval-mode output"

        def none_is_inference():
            model.train()
            try:
                out = call(None)
            except ValueError as exc:
                if "boolean" not in str(exc):
                    raise
                return (
                    "training=None raised PyTorch's 'training mode is expected to be boolean' "
                    "error: None (the argument left out) should mean inference, as for Keras's "
                    "own layers"
                )
            if not torch.allclose(out, expected, atol=1e-6):
                return (
                    "training=None (the argument left out) should mean inference, as for "
                    "Keras's own layers: the output differs from the eval-mode output"
                )
            if not torch.allclose(call(), expected, atol=1e-6):
                return (
                    "a call without the training argument should run in inference mode: the "
                    "output differs from the eval-mode output"
                )

        def true_is_train():
            model.eval()
            before = _running_stats(model)
            first, second = call(True), call(True)
            if torch.equal(first, second):
                return (
                    "two calls with training=True on a model in eval mode gave the same "
                    "output: dropout was off. training=True must run the model in train "
                    "mode, whatever mode it was in"
                )
            if _same(before, _running_stats(model)):
                return "training=True did not update BatchNorm's running statistics"

        def whole_model_switched():
            for start, training in (("train", False), ("eval", True), ("mixed", True), ("mixed", None)):
                model.train(start != "eval")
                if start == "mixed":
                    model.body[1].eval()
                during.clear()
                call(training)
                if not during:
                    return "the model's forward pass never ran"
                flags, want = during[-1], bool(training)
                wrong = sum(flag != want for flag in flags)
                if wrong:
                    mode = "train" if want else "eval"
                    return (
                        f"during the forward pass with training={training} on a model in {start} "
                        f"mode, {wrong} of {len(flags)} modules were not in {mode} mode"
                        + (" (the model itself among them: its own flag is read too)"
                           if flags[0] != want else "")
                    )
            return None

        def graph_kept():
            for training in (True, False):
                with torch.enable_grad():
                    out = call(training, keep_graph=True)
                if out.grad_fn is None:
                    return (
                        f"with gradient tracking on, the output of training={training} has no "
                        "autograd graph (requires_grad is False), so a training step could not "
                        "backpropagate through it: the Keras-style call chooses the mode only"
                    )
            with torch.no_grad():
                out = call(True, keep_graph=True)
                still_off = not torch.is_grad_enabled()
            if not still_off:
                return "gradient tracking was off before torch_call and on after it"
            if out.grad_fn is not None:
                return (
                    "the caller switched gradient tracking off, but the output of training=True "
                    "has an autograd graph: torch_call turned tracking on for the forward pass. "
                    "It must run with tracking as the caller has it"
                )
            with torch.enable_grad():
                call(False)
                still_on = torch.is_grad_enabled()
            if not still_on:
                return "gradient tracking was on before torch_call and off after it"
            return None

        def mode_kept(start: str, training: bool) -> Callable[[], str | None]:
            def check() -> str | None:
                model.train(start != "eval")
                if start == "mixed":
                    model.body[1].eval()  # a frozen BatchNorm while the rest trains
                before = _flags(model)
                call(training)
                after = _flags(model)
                if after != before:
                    changed = sum(a != b for a, b in zip(after, before, strict=True))
                    return (
                        f"a model in {start} mode came back in {_mode_name(after)} mode after "
                        f"training={training} ({changed} of {len(after)} modules changed): every "
                        "module must end in the mode it had before the call"
                    )
                return None

            return check

        def kept_after_error():
            bad = torch.zeros(4, 3)  # 3 features for a model that takes 2: the forward pass fails
            for start, training in (("train", False), ("eval", True), ("mixed", False)):
                model.train(start != "eval")
                if start == "mixed":
                    model.body[1].eval()
                before = _flags(model)
                try:
                    torch_call(model, bad, training)
                except RuntimeError:
                    pass
                else:
                    return (
                        "the forward pass on a batch with 3 features (the model takes 2) raised "
                        "an error, but torch_call returned normally: the caller must see the error"
                    )
                after = _flags(model)
                if after != before:
                    return (
                        f"when the forward pass raised an error, a model in {start} mode was left "
                        f"in {_mode_name(after)} mode (training={training}): the modes must come "
                        "back even when the forward pass fails"
                    )
            return None

        checks: list[Check] = [
            ("returns the output tensor", returns_output),
            ("training=False: same output twice", false_is_eval),
            ("training=False: BatchNorm statistics unchanged", false_keeps_stats),
            ("training=False: eval-mode output", eval_values),
            ("training=None means inference", none_is_inference),
            ("training=True: train mode", true_is_train),
            ("every module in the requested mode during the call", whole_model_switched),
            ("gradient tracking left alone", graph_kept),
            ("train mode kept after training=False", mode_kept("train", False)),
            ("eval mode kept after training=True", mode_kept("eval", True)),
            ("mixed modes kept", mode_kept("mixed", False)),
            ("mixed modes kept after training=True", mode_kept("mixed", True)),
            ("modes kept when the forward pass raises", kept_after_error),
        ]
        return run_checks("9.2", checks, hint=hint)
