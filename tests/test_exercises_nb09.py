"""Notebook 09's checkers accept correct answers and name the problem in wrong ones."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from course_utils.exercises import nb09

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first import of keras
keras = pytest.importorskip("keras")

# Keras 3.15's torch backend converts tensors with np.array(tensor), which NumPy 2
# flags with a DeprecationWarning on every call; it is Keras's code, not the checkers'.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

to_numpy = keras.ops.convert_to_numpy
_bce = keras.losses.BinaryCrossentropy(from_logits=True)

# ---------------------------------------------------------------------------
# Exercise 1: keras_validate
# ---------------------------------------------------------------------------


def _batch_loop(model, x, y, batch_size, training, tracking=False):
    loss_sum, n_correct = 0.0, 0
    with torch.set_grad_enabled(tracking):
        for i in range(0, len(x), batch_size):
            xb, yb = x[i : i + batch_size], y[i : i + batch_size]
            logits = to_numpy(model(xb, training=training))
            loss_sum += float(to_numpy(_bce(yb, logits))) * len(xb)
            n_correct += int(((logits > 0) == (yb > 0.5)).sum())
    return loss_sum / len(x), n_correct / len(x)


def validate_ok(model, x, y, batch_size=64):
    return _batch_loop(model, x, y, batch_size, training=False)


@torch.inference_mode()
def validate_default_call_ok(model, x, y, batch_size=64):
    """No training= at all (Keras's default is inference), inference_mode as a decorator."""
    total, correct = 0.0, 0.0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        logits = model(xb)
        per_row = keras.losses.binary_crossentropy(yb, logits, from_logits=True)
        total += float(to_numpy(keras.ops.sum(per_row)))
        correct += float(to_numpy(keras.ops.sum(keras.ops.cast(logits > 0, "float32") == yb)))
    return total / len(x), correct / len(x)


def validate_tracking_on(model, x, y, batch_size=64):
    """Right except for one thing: every batch records an autograd graph (notebook 10's pitfall)."""
    return _batch_loop(model, x, y, batch_size, training=False, tracking=True)


def validate_tracking_on_then_detach(model, x, y, batch_size=64):
    """Tracking on, the graph thrown away afterwards: it was still recorded."""
    loss_sum, n_correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        logits = model(xb, training=False).detach().numpy()
        loss_sum += float(to_numpy(_bce(yb, logits))) * len(xb)
        n_correct += int(((logits > 0) == (yb > 0.5)).sum())
    return loss_sum / len(x), n_correct / len(x)


def validate_switches_tracking_off_for_good(model, x, y, batch_size=64):
    torch.set_grad_enabled(False)
    return _batch_loop(model, x, y, batch_size, training=False, tracking=False)


def validate_training_true(model, x, y, batch_size=64):
    return _batch_loop(model, x, y, batch_size, training=True)


@torch.no_grad()
def validate_unweighted(model, x, y, batch_size=64):
    losses, accs = [], []
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        logits = to_numpy(model(xb, training=False))
        losses.append(float(to_numpy(_bce(yb, logits))))
        accs.append(float(((logits > 0) == (yb > 0.5)).mean()))
    return float(np.mean(losses)), float(np.mean(accs))


@torch.no_grad()
def validate_whole_set(model, x, y, batch_size=64):
    logits = to_numpy(model(x, training=False))
    return float(to_numpy(_bce(y, logits))), float(((logits > 0) == (y > 0.5)).mean())


def validate_drops_last_batch(model, x, y, batch_size=64):
    n = len(x) // batch_size * batch_size or len(x)
    return validate_ok(model, x[:n], y[:n], batch_size)


@torch.no_grad()
def validate_returns_tensors(model, x, y, batch_size=64):
    logits = model(x[:batch_size], training=False)
    return _bce(y[:batch_size], logits), keras.ops.mean(keras.ops.cast(logits > 0, "float32"))


@torch.no_grad()
def validate_probability_threshold(model, x, y, batch_size=64):
    """Treats logits as probabilities: the threshold 0.5 belongs to sigmoid(logits)."""
    loss_sum, n_correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        logits = to_numpy(model(xb, training=False))
        loss_sum += float(to_numpy(_bce(yb, logits))) * len(xb)
        n_correct += int(((logits > 0.5) == (yb > 0.5)).sum())
    return loss_sum / len(x), n_correct / len(x)


@pytest.mark.parametrize("solution", [validate_ok, validate_default_call_ok])
def test_exercise_1_accepts_correct_answers(solution, capsys):
    result = nb09.check_exercise_1(solution)
    assert result.passed, result.message
    assert "✅ Exercise 9.1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("solution", "named"),
    [
        (validate_training_true, "dropout is active. Call the model with training=False"),
        (validate_unweighted, "last batch is smaller"),
        (validate_whole_set, "rows at once"),
        (validate_drops_last_batch, "every row must be in exactly one batch"),
        (validate_returns_tensors, "should be a Python float"),
        (validate_probability_threshold, "logit is > 0"),
        (validate_tracking_on, "3 of 3 model calls ran with gradient tracking on"),
        (validate_tracking_on_then_detach, "recorded an autograd graph"),
        (validate_switches_tracking_off_for_good, "still off after keras_validate returned"),
    ],
)
def test_exercise_1_names_the_mistake(solution, named):
    result = nb09.check_exercise_1(solution)
    assert not result.passed
    assert named in result.message
    assert torch.is_grad_enabled()  # the checker switches tracking back on whatever the answer did


def test_exercise_1_reports_moving_statistics_when_dropout_alone_is_off():
    """training=True on a model whose dropout is off: only BatchNormalization gives it away."""

    def validate_bn_in_training(model, x, y, batch_size=64):
        dropout = model.get_layer("nb09_dropout")
        rate, dropout.rate = dropout.rate, 0.0
        try:
            return _batch_loop(model, x, y, batch_size, training=True)
        finally:
            dropout.rate = rate

    result = nb09.check_exercise_1(validate_bn_in_training)
    assert not result.passed
    assert "moving_mean/moving_variance changed" in result.message


# ---------------------------------------------------------------------------
# Exercise 2: torch_call
# ---------------------------------------------------------------------------


def call_ok(model, x, training=None):
    flags = {m: m.training for m in model.modules()}
    model.train(bool(training))
    try:
        return model(x)
    finally:
        for m, flag in flags.items():
            m.training = flag


def call_forgets_eval(model, x, training=None):
    flags = {m: m.training for m in model.modules()}
    if training:
        model.train()
    out = model(x)
    for m, flag in flags.items():
        m.training = flag
    return out


def call_never_restores(model, x, training=None):
    model.train(bool(training))
    return model(x)


def call_restores_top_flag_only(model, x, training=None):
    was_training = model.training
    model.train(bool(training))
    out = model(x)
    model.train(was_training)
    return out


def call_none_means_train(model, x, training=None):
    flags = {m: m.training for m in model.modules()}
    model.train(training is not False)
    out = model(x)
    for m, flag in flags.items():
        m.training = flag
    return out


def call_passes_none_to_train(model, x, training=None):
    flags = {m: m.training for m in model.modules()}
    model.train(training)
    out = model(x)
    for m, flag in flags.items():
        m.training = flag
    return out


def call_ignores_true(model, x, training=None):
    flags = {m: m.training for m in model.modules()}
    if not training:
        model.eval()
    out = model(x)
    for m, flag in flags.items():
        m.training = flag
    return out


def test_exercise_2_accepts_correct_answer(capsys):
    result = nb09.check_exercise_2(call_ok)
    assert result.passed, result.message
    assert "✅ Exercise 9.2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("solution", "named"),
    [
        (call_forgets_eval, "dropout is still active. Put the model in eval mode"),
        (call_never_restores, "came back in"),
        (call_restores_top_flag_only, "a model in mixed mode came back"),
        (call_none_means_train, "training=None (the argument left out) should mean inference"),
        (call_passes_none_to_train, "model.train(None) raises"),
        (call_ignores_true, "training=True must switch the model to train mode"),
    ],
)
def test_exercise_2_names_the_mistake(solution, named):
    result = nb09.check_exercise_2(solution)
    assert not result.passed
    assert named in result.message


# ---------------------------------------------------------------------------
# Both checkers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("checker", [nb09.check_exercise_1, nb09.check_exercise_2])
def test_checkers_reject_a_non_function(checker):
    result = checker((0.5, 0.9))
    assert not result and "pass `" in result.message and "without calling it" in result.message


def test_checkers_report_a_crash_without_traceback():
    def crashes(*args, **kwargs):
        raise KeyError("oops")

    for checker in (nb09.check_exercise_1, nb09.check_exercise_2):
        result = checker(crashes)
        assert not result.passed
        assert "your code raised KeyError" in result.message


def test_checkers_do_not_move_the_callers_random_streams():
    def draw():
        return (
            random.random(),
            float(np.random.rand()),
            torch.rand(2).tolist(),
            to_numpy(keras.random.uniform((2,))).tolist(),  # Keras's global seed generator
        )

    keras.utils.set_random_seed(123)
    expected = draw()
    keras.utils.set_random_seed(123)
    nb09.check_exercise_1(validate_ok)
    nb09.check_exercise_2(call_ok)
    assert draw() == expected
    assert torch.is_grad_enabled()


def test_importing_the_checkers_does_not_import_keras():
    code = "import sys, course_utils.exercises.nb09; print('keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
