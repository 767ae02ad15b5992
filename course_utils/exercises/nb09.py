"""Checkers for notebook 09 · PyTorch vs Keras.

* :func:`check_exercise_1` -- ``keras_validate(model, x, y, batch_size)``: a
  Keras validation loop over mini-batches that runs every batch in inference
  mode without recording an autograd graph, and returns the loss and accuracy
  of the whole set.
* :func:`check_exercise_2` -- ``torch_call(model, x, training=None)``: a
  Keras-style call for a PyTorch model, the mode given as an argument.

Keras is imported only inside :func:`check_exercise_1`, so importing this
module (and ``course_utils``) stays light and works without Keras installed.
When Keras has not been imported yet, the checker selects the PyTorch backend
first (``KERAS_BACKEND=torch``), as notebook 09 does.

Calling a checker does not move the caller's random streams: the hidden Keras
model gets an explicit seed for every initializer and for its dropout (so
Keras's global seed generator is not used), and everything runs with Python's,
NumPy's and PyTorch's generators saved and restored.
"""

from __future__ import annotations

import importlib
import os
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
        raise AssertionError(f"return ({names[0]}, {names[1]}), got {_describe(result)}")
    for name, value in zip(names, result, strict=True):
        if isinstance(value, bool) or not isinstance(value, float):
            raise AssertionError(
                f"{name} should be a Python float, got {_describe(value)}: convert it "
                f"with float(...)"
            )
    return float(result[0]), float(result[1])


# ---------------------------------------------------------------------------
# Exercise 1: keras_validate(model, x, y, batch_size) -> (loss, accuracy)
# ---------------------------------------------------------------------------


def _import_keras() -> ModuleType:
    """Import Keras 3, on the PyTorch backend unless a backend was already chosen."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        return importlib.import_module("keras")
    except ImportError as exc:  # e.g. the TensorFlow backend selected but not installed
        raise ImportError(
            "check_exercise_1 needs Keras 3 with an installed backend: `pip install keras` "
            "and set os.environ['KERAS_BACKEND'] = 'torch' before the first `import keras`"
        ) from exc


def _hidden_keras_model(
    keras: ModuleType, x: np.ndarray, y: np.ndarray
) -> tuple[object, list[int], list[bool]]:
    """A small Keras classifier with BatchNormalization and Dropout, and what its calls saw.

    Every random part has its own seed, so building it leaves Keras's global
    seed generator alone. A pass-through layer records, for each concrete batch
    the model is called on, its number of rows and whether torch's gradient
    tracking was on (on the PyTorch backend a Keras call records an autograd
    graph unless it is off). The output layer is rescaled
    so that the inference logits on ``x`` have a spread of 2, split near the
    median at a wide gap between two logits (no logit close to 0, where
    rounding could flip a prediction), and better than chance on ``y``: both
    classes get predicted, and many logits lie between 0 and 1, where a wrong
    threshold shows.
    """
    layers, init = keras.layers, keras.initializers
    rows_seen: list[int] = []
    grad_seen: list[bool] = []

    class _RowCounter(layers.Layer):
        def call(self, x):
            if isinstance(x.shape[0], int) and getattr(getattr(x, "device", None), "type", "") != "meta":
                rows_seen.append(int(x.shape[0]))
                grad_seen.append(torch.is_grad_enabled())
            return x

        def compute_output_shape(self, input_shape):
            return input_shape

    model = keras.Sequential(
        [
            keras.Input(shape=(2,)),
            _RowCounter(name="nb09_rows"),
            layers.Dense(16, kernel_initializer=init.GlorotUniform(seed=1), name="nb09_dense"),
            layers.BatchNormalization(momentum=0.9, name="nb09_bn"),
            layers.ReLU(name="nb09_relu"),
            layers.Dropout(0.5, seed=2, name="nb09_dropout"),
            layers.Dense(1, kernel_initializer=init.GlorotUniform(seed=3), name="nb09_logit"),
        ],
        name="nb09_hidden",
    )
    shifted = (np.linspace(-2.0, 3.0, 64, dtype="float32").reshape(32, 2)) * 1.5 + 0.5
    for _ in range(5):  # move the moving statistics away from their initial 0 and 1
        model(shifted, training=True)
    logit_layer = model.get_layer("nb09_logit")
    kernel, bias = logit_layer.get_weights()
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
    rows_seen.clear()
    grad_seen.clear()
    return model, rows_seen, grad_seen


def _bce_with_logits(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row binary cross-entropy computed from logits, in float64."""
    z, y = z.astype(np.float64), y.astype(np.float64)
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))


def check_exercise_1(keras_validate: Callable) -> CheckResult:
    """Check ``keras_validate(model, x, y, batch_size) -> (loss, accuracy)``.

    On a hidden Keras model with BatchNormalization and Dropout it must call
    the model batch by batch in inference mode (same result twice, moving
    statistics untouched) with gradient tracking off (``torch.no_grad()`` or
    ``torch.inference_mode()``, switched back on afterwards), and return the mean binary cross-entropy and the
    accuracy (``logit > 0``) over *all* rows as two Python floats, whatever
    the size of the last batch.
    """
    if not callable(keras_validate):
        return run_checks(
            "9.1",
            [function_check(keras_validate, "keras_validate")],
            hint="write `def keras_validate(...):` in a cell, then pass the name: check_exercise_1(keras_validate)",
        )
    keras = _import_keras()
    with sandbox(_SEED):
        data = make_dataset("moons", n_samples=190, noise=0.25, seed=5)
        x, y = data.X_train.numpy(), data.y_train.numpy()  # 152 rows: batches of 64, 64, 24
        model, rows_seen, grad_seen = _hidden_keras_model(keras, x, y)
        bn = model.get_layer("nb09_bn")
        logits = keras.ops.convert_to_numpy(model(x, training=False)).astype(np.float64)
        per_row = _bce_with_logits(logits, y).ravel()
        want_loss = float(per_row.mean())
        want_acc = float(((logits > 0) == (y > 0.5)).mean())
        batch_means = [per_row[i : i + 64].mean() for i in range(0, len(x), 64)]
        unweighted_loss = float(np.mean(batch_means))
        rows_seen.clear()

        def run(batch_size: int = 64) -> tuple[float, float]:
            return _two_floats(keras_validate(model, x, y, batch_size))

        def returns_floats():
            run()

        def deterministic():
            first, second = run(), run()
            if first != second:
                return (
                    f"two calls on the same data gave (loss {first[0]:.4f}, accuracy "
                    f"{first[1]:.4f}) and (loss {second[0]:.4f}, accuracy {second[1]:.4f}): "
                    "dropout is active. Call the model with training=False"
                )

        def moving_stats_untouched():
            before = [keras.ops.convert_to_numpy(v).copy() for v in (bn.moving_mean, bn.moving_variance)]
            run()
            after = [keras.ops.convert_to_numpy(v) for v in (bn.moving_mean, bn.moving_variance)]
            if not all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)):
                return (
                    "BatchNormalization's moving_mean/moving_variance changed: the validation "
                    "batches ran with training=True and updated them. Use training=False"
                )

        def no_graph():
            grad_seen.clear()
            run(64)
            if any(grad_seen):
                return (
                    f"{sum(grad_seen)} of {len(grad_seen)} model calls ran with gradient tracking "
                    "on: on the PyTorch backend each of them recorded an autograd graph (and kept "
                    "its activations alive) that validation never uses. Validation needs no "
                    "gradients: switch tracking off for the loop (torch.no_grad() or "
                    "torch.inference_mode())"
                )
            if not torch.is_grad_enabled():
                return (
                    "gradient tracking was still off after keras_validate returned, so the "
                    "next training step would compute no gradients: switch it off only for "
                    "the loop (a with-block), not for the whole program"
                )
            return None

        def batches():
            rows_seen.clear()
            run(64)
            if not rows_seen:
                return "the model was never called"
            if max(rows_seen) > 64:
                return (
                    f"the model was called on {max(rows_seen)} rows at once: loop over the data "
                    "and call it on batches x[i:i + batch_size] of at most batch_size rows"
                )
            if sum(rows_seen) != len(x):
                return (
                    f"the model saw {sum(rows_seen)} rows in total, the data has {len(x)}: "
                    "every row must be in exactly one batch (the last batch may be smaller)"
                )

        def right_loss():
            loss, _ = run(64)
            if abs(loss - want_loss) <= 1e-5:
                return None
            if abs(loss - unweighted_loss) <= 1e-5:
                return (
                    f"loss {loss:.5f} is the plain average of the batch losses, but the last "
                    f"batch is smaller (64, 64, {len(x) - 128} rows): weight each batch loss by "
                    f"its number of rows and divide by the total ({want_loss:.5f} expected)"
                )
            return (
                f"loss {loss:.5f}, expected {want_loss:.5f}: the mean binary cross-entropy "
                "over all rows, computed from logits (from_logits=True)"
            )

        def right_accuracy():
            _, acc = run(64)
            if abs(acc - want_acc) > 1e-6:
                return (
                    f"accuracy {acc:.4f}, expected {want_acc:.4f}: a row is predicted as "
                    "class 1 when its logit is > 0, and the accuracy is the fraction of all "
                    "rows where that prediction equals y"
                )

        def any_batch_size():
            for size in (50, 1000):
                loss, acc = run(size)
                if abs(loss - want_loss) > 1e-5 or abs(acc - want_acc) > 1e-6:
                    return (
                        f"with batch_size={size} you returned ({loss:.5f}, {acc:.4f}), "
                        f"expected ({want_loss:.5f}, {want_acc:.4f}): the result must not "
                        "depend on how the rows are split into batches"
                    )

        checks: list[Check] = [
            ("returns (loss, accuracy) as two Python floats", returns_floats),
            ("same result when called twice", deterministic),
            ("BatchNormalization moving statistics unchanged", moving_stats_untouched),
            ("no autograd graph recorded, tracking back on afterwards", no_graph),
            ("the model is called batch by batch", batches),
            ("mean loss over all rows", right_loss),
            ("accuracy over all rows", right_accuracy),
            ("same numbers for any batch size", any_batch_size),
        ]
        return run_checks(
            "9.1",
            checks,
            hint="inside torch.no_grad(), for i in range(0, len(x), batch_size): take "
            "x[i:i + batch_size], call model(xb, training=False), add up loss * len(xb) and the "
            "number of correct rows; divide both sums by len(x) at the end and return "
            "float(...) of each.",
        )


# ---------------------------------------------------------------------------
# Exercise 2: torch_call(model, x, training=None) -> output
# ---------------------------------------------------------------------------


class _Net(nn.Module):
    """Linear -> BatchNorm1d -> ReLU -> Dropout -> Linear, with the parts named."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _mode_name(flags: list[bool]) -> str:
    return "train" if all(flags) else "eval" if not any(flags) else "mixed"


def check_exercise_2(torch_call: Callable) -> CheckResult:
    """Check ``torch_call(model, x, training=None)``, a Keras-style call for PyTorch.

    ``training=True`` runs the model in train mode (dropout active, BatchNorm
    on batch statistics, running statistics updated) even if it was in eval
    mode; ``training=False`` and ``training=None`` (no argument, Keras's
    default) run it in eval mode. Afterwards every submodule has the mode it
    had before, mixed modes included.
    """
    if not callable(torch_call):
        return run_checks(
            "9.2",
            [function_check(torch_call, "torch_call")],
            hint="write `def torch_call(...):` in a cell, then pass the name: check_exercise_2(torch_call)",
        )
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

        def call(training: object = "omitted") -> torch.Tensor:
            out = torch_call(model, x) if training == "omitted" else torch_call(model, x, training)
            if not isinstance(out, torch.Tensor):
                raise AssertionError(f"return the model's output tensor, got {_describe(out)}")
            if tuple(out.shape) != tuple(expected.shape):
                raise AssertionError(
                    f"the output should have shape {tuple(expected.shape)}, got {tuple(out.shape)}"
                )
            return out.detach()

        def returns_output():
            call(False)

        def false_is_eval():
            model.train()
            if not torch.equal(call(False), call(False)):
                return (
                    "two calls with training=False gave different outputs: dropout is still "
                    "active. Put the model in eval mode (model.eval()) for the call"
                )

        def false_keeps_stats():
            model.train()
            before = _running_stats(model)
            call(False)
            if not _same(before, _running_stats(model)):
                return (
                    "training=False changed BatchNorm's running_mean/running_var: BatchNorm "
                    "ran in train mode. Call model.eval() before the forward pass"
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
                    "model.train(None) raises: turn training=None into False first. In Keras a "
                    "call without training= runs in inference mode"
                )
            if not torch.allclose(out, expected, atol=1e-6):
                return (
                    "training=None (the argument left out) should mean inference, as in "
                    "Keras: the output differs from the eval-mode output"
                )
            if not torch.allclose(call(), expected, atol=1e-6):
                return "make training=None the default, so torch_call(model, x) runs in inference mode"

        def true_is_train():
            model.eval()
            before = _running_stats(model)
            first, second = call(True), call(True)
            if torch.equal(first, second):
                return (
                    "two calls with training=True on a model in eval mode gave the same "
                    "output: dropout was off. training=True must switch the model to train "
                    "mode for the call, whatever mode it was in"
                )
            if _same(before, _running_stats(model)):
                return "training=True did not update BatchNorm's running statistics"

        def mode_kept(start: str, training: bool) -> Callable[[], str | None]:
            def check() -> str | None:
                model.train(start != "eval")
                if start == "mixed":
                    model.body[1].eval()  # a frozen BatchNorm while the rest trains
                before = _flags(model)
                call(training)
                after = _flags(model)
                if after != before:
                    return (
                        f"a model in {start} mode came back in {_mode_name(after)} mode after "
                        f"training={training}. Record every submodule's flag "
                        "({m: m.training for m in model.modules()}) and set each one back"
                    )
                return None

            return check

        checks: list[Check] = [
            ("returns the output tensor", returns_output),
            ("training=False: same output twice", false_is_eval),
            ("training=False: BatchNorm statistics unchanged", false_keeps_stats),
            ("training=False: eval-mode output", eval_values),
            ("training=None means inference", none_is_inference),
            ("training=True: train mode", true_is_train),
            ("train mode kept after training=False", mode_kept("train", False)),
            ("eval mode kept after training=True", mode_kept("eval", True)),
            ("mixed modes kept", mode_kept("mixed", False)),
            ("mixed modes kept after training=True", mode_kept("mixed", True)),
        ]
        return run_checks(
            "9.2",
            checks,
            hint="record {m: m.training for m in model.modules()}, call "
            "model.train(bool(training)) (None counts as False), run the forward pass, and set "
            "every flag back in a finally: block.",
        )
