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


def _batch_loop(model, x, y, batch_size, training=False, tracking=False, call=None, threshold=0.0,
                loss_fn=_bce):
    if len(x) == 0:
        raise ValueError("no rows to validate")
    loss_sum, n_correct = 0.0, 0
    with torch.set_grad_enabled(tracking):
        for i in range(0, len(x), batch_size):
            xb, yb = x[i : i + batch_size], y[i : i + batch_size]
            out = call(xb) if call else model(xb, training=training)
            logits = to_numpy(out)
            loss_sum += float(to_numpy(loss_fn(yb, logits))) * len(xb)
            n_correct += int(((logits > threshold) == (yb > 0.5)).sum())
    return loss_sum / len(x), n_correct / len(x)


def validate_ok(model, x, y, batch_size=64):
    return _batch_loop(model, x, y, batch_size, training=False)


@torch.inference_mode()
def validate_other_style_ok(model, x, y, batch_size=64):
    """Keras ops for the loss, inference_mode as a decorator, a sum instead of a weighted mean."""
    if not len(x):
        raise ValueError("x is empty")
    total, correct = 0.0, 0.0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        logits = model(xb, training=False)
        per_row = keras.losses.binary_crossentropy(yb, logits, from_logits=True)
        total += float(to_numpy(keras.ops.sum(per_row)))
        correct += float(to_numpy(keras.ops.sum(keras.ops.cast(logits > 0, "float32") == yb)))
    return total / len(x), correct / len(x)


@torch.no_grad()
def validate_squeezed(model, x, y, batch_size=64):
    """Squeezes the (N, 1) logits and labels to (N,) before the loss."""
    if len(x) == 0:
        raise ValueError("no rows")
    loss_sum, n_correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size].squeeze()
        logits = to_numpy(model(xb, training=False)).squeeze()
        loss_sum += float(to_numpy(_bce(yb, logits))) * len(xb)
        n_correct += int(((logits > 0) == (yb > 0.5)).sum())
    return loss_sum / len(x), n_correct / len(x)


def validate_default_call(model, x, y, batch_size=64):
    """No training= at all: Keras's layers take it as inference, the wrapped PyTorch dropout not."""
    return _batch_loop(model, x, y, batch_size, call=model)


def validate_training_true(model, x, y, batch_size=64):
    return _batch_loop(model, x, y, batch_size, training=True)


def validate_bn_in_training(model, x, y, batch_size=64):
    """training=True with every dropout off for the call: only BatchNormalization gives it away."""
    dropout = model.get_layer("nb09_torch_dropout").module
    rate, dropout.p = dropout.p, 0.0
    try:
        return _batch_loop(model, x, y, batch_size, training=True)
    finally:
        dropout.p = rate


def validate_dropout_rate_left_at_zero(model, x, y, batch_size=64):
    """Silences the PyTorch dropout by its rate instead of the mode, and leaves it so."""
    model.get_layer("nb09_torch_dropout").module.p = 0.0
    return _batch_loop(model, x, y, batch_size, call=model)


def validate_freezes_the_model(model, x, y, batch_size=64):
    model.trainable = False
    return validate_ok(model, x, y, batch_size)


def validate_tracking_on(model, x, y, batch_size=64):
    """Right except for one thing: every batch records an autograd graph (notebook 10's pitfall)."""
    return _batch_loop(model, x, y, batch_size, training=False, tracking=True)


def validate_tracking_on_then_detach(model, x, y, batch_size=64):
    """Tracking on, the graph thrown away afterwards: it was still recorded."""
    return _batch_loop(model, x, y, batch_size, tracking=True,
                       call=lambda xb: model(xb, training=False).detach())


def validate_switches_tracking_off_for_good(model, x, y, batch_size=64):
    torch.set_grad_enabled(False)
    return _batch_loop(model, x, y, batch_size, training=False, tracking=False)


def _loop_without_tracking_switch(model, x, y, batch_size):
    loss_sum, n_correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        logits = to_numpy(model(xb, training=False))
        loss_sum += float(to_numpy(_bce(yb, logits))) * len(xb)
        n_correct += int(((logits > 0) == (yb > 0.5)).sum())
    return loss_sum / len(x), n_correct / len(x)


def validate_restores_without_finally(model, x, y, batch_size=64):
    """Tracking off first, restored on the last line: the ValueError for empty x skips it."""
    was_on = torch.is_grad_enabled()
    torch.set_grad_enabled(False)
    if len(x) == 0:
        raise ValueError("x is empty")
    result = _loop_without_tracking_switch(model, x, y, batch_size)
    torch.set_grad_enabled(was_on)
    return result


def validate_restores_without_finally_after_the_check(model, x, y, batch_size=64):
    """Empty x checked first, but a failing model call still skips the restore."""
    if len(x) == 0:
        raise ValueError("x is empty")
    was_on = torch.is_grad_enabled()
    torch.set_grad_enabled(False)
    result = _loop_without_tracking_switch(model, x, y, batch_size)
    torch.set_grad_enabled(was_on)
    return result


def validate_switches_tracking_on_at_the_end(model, x, y, batch_size=64):
    """Off for the loop, then on regardless of what the caller had."""
    torch.set_grad_enabled(False)
    result = _batch_loop(model, x, y, batch_size, training=False, tracking=False)
    torch.set_grad_enabled(True)
    return result


@torch.no_grad()
def validate_unweighted(model, x, y, batch_size=64):
    if len(x) == 0:
        raise ValueError("no rows")
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


def validate_ignores_batch_size(model, x, y, batch_size=64):
    return validate_ok(model, x, y, 64)


def validate_one_row_at_a_time(model, x, y, batch_size=64):
    return validate_ok(model, x, y, 1)


@torch.no_grad()
def validate_returns_tensors(model, x, y, batch_size=64):
    logits = model(x[:batch_size], training=False)
    return _bce(y[:batch_size], logits), keras.ops.mean(keras.ops.cast(logits > 0, "float32"))


def validate_probability_threshold(model, x, y, batch_size=64):
    """Treats logits as probabilities: the threshold 0.5 belongs to sigmoid(logits)."""
    return _batch_loop(model, x, y, batch_size, threshold=0.5)


def validate_loss_from_probabilities(model, x, y, batch_size=64):
    """The loss computed as if the logits were probabilities (from_logits forgotten)."""
    return _batch_loop(model, x, y, batch_size, loss_fn=keras.losses.BinaryCrossentropy())


_first_answer = {}


def validate_hard_coded(model, x, y, batch_size=64):
    """Runs a proper loop, then returns the numbers it saw on its first data set, whatever the data."""
    result = validate_ok(model, x, y, batch_size)
    return _first_answer.setdefault("numbers", result)


def validate_no_empty_check(model, x, y, batch_size=64):
    loss_sum, n_correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb, yb = x[i : i + batch_size], y[i : i + batch_size]
            logits = to_numpy(model(xb, training=False))
            loss_sum += float(to_numpy(_bce(yb, logits))) * len(xb)
            n_correct += int(((logits > 0) == (yb > 0.5)).sum())
    return loss_sum / len(x), n_correct / len(x)


def validate_empty_gives_nan(model, x, y, batch_size=64):
    if len(x) == 0:
        return float("nan"), float("nan")
    return validate_ok(model, x, y, batch_size)


@torch.no_grad()
def validate_squeezed_counts_rows(model, x, y, batch_size=64):
    """Squeezed logits, rows counted from them: a batch of one row squeezes to a 0-d array."""
    if len(x) == 0:
        raise ValueError("no rows")
    loss_sum, n_correct, n_rows = 0.0, 0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size].squeeze()
        logits = to_numpy(model(xb, training=False)).squeeze()
        loss_sum += float(to_numpy(_bce(yb, logits))) * len(logits)
        n_correct += int(((logits > 0) == (yb > 0.5)).sum())
        n_rows += len(logits)
    return loss_sum / n_rows, n_correct / n_rows


@pytest.mark.parametrize("solution", [validate_ok, validate_other_style_ok, validate_squeezed])
def test_exercise_1_accepts_correct_answers(solution, capsys):
    result = nb09.check_exercise_1(solution)
    assert result.passed, result.message
    assert "✅ Exercise 9.1" in capsys.readouterr().out


EXERCISE_1_MISTAKES = [
    (validate_default_call, "the same data gave different results", "PyTorch dropout"),
    (validate_training_true, "the same data gave different results", "dropout layer was active"),
    (validate_bn_in_training, "moving_mean/moving_variance changed", "training behaviour"),
    (validate_dropout_rate_left_at_zero, "leave the model as it found it", "dropout rate"),
    (validate_freezes_the_model, "leave the model as it found it", "trainable=True before"),
    (validate_tracking_on, "3 of 3 model calls ran with gradient tracking on", "autograd graph"),
    (validate_tracking_on_then_detach, "ran with gradient tracking on", "recorded an autograd graph"),
    (validate_switches_tracking_off_for_good, "on before keras_validate and off after it", "as it was"),
    (validate_switches_tracking_on_at_the_end, "off before keras_validate", "not be switched on regardless"),
    (validate_unweighted, "plain average of the three batch losses", "64, 64 and 24 rows"),
    (validate_whole_set, "with batch_size=64 the model was called on batches of [152] rows",
     "[64, 64, 24]"),
    (validate_drops_last_batch, "batches of [64, 64] rows", "covering all 152 rows once"),
    (validate_ignores_batch_size, "with batch_size=50 the model was called on batches of [64, 64, 24]",
     "[50, 50, 50, 2]"),
    (validate_one_row_at_a_time, "with batch_size=64", "at most 64 rows"),
    (validate_squeezed_counts_rows, "your code raised TypeError", "unsized object"),
    (validate_returns_tensors, "should be a plain Python float", "Tensor"),
    (validate_probability_threshold, "accuracy", "logit is above 0"),
    (validate_loss_from_probabilities, "not the mean binary cross-entropy", "from the logits"),
    (validate_hard_coded, "on a second data set", "computed from the x and y passed in"),
    (validate_no_empty_check, "empty x (0 rows) keras_validate raised ZeroDivisionError", "ValueError"),
    (validate_empty_gives_nan, "empty x (0 rows) keras_validate returned (nan, nan)", "ValueError"),
    (validate_restores_without_finally, "raised ValueError, as expected, but gradient tracking was on",
     "also when keras_validate raises an error"),
    (validate_restores_without_finally_after_the_check, "when the model raised an error, gradient "
     "tracking was left off", "also when the forward pass fails"),
]


@pytest.mark.parametrize(("solution", "named", "also"), EXERCISE_1_MISTAKES)
def test_exercise_1_names_the_mistake(solution, named, also, capsys):
    _first_answer.clear()
    result = nb09.check_exercise_1(solution)
    assert not result.passed
    assert named in result.message and also in result.message
    assert torch.is_grad_enabled()  # the checker switches tracking back on whatever the answer did
    shown = capsys.readouterr().out
    assert "❌ Exercise 9.1" in shown and "Hint:" in shown


def test_exercise_1_accepts_answers_and_rejects_many_mistakes():
    assert len(EXERCISE_1_MISTAKES) >= 20


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


def call_ok_with_a_list(model, x, training=None):
    """Another correct style: flags in module order, restored with train(flag) parents first."""
    modules = list(model.modules())
    flags = [m.training for m in modules]
    model.train(training is True)
    try:
        return model(x)
    finally:
        for m, flag in zip(modules, flags, strict=True):
            m.train(flag)  # also sets the children, which come later in the list


def call_forgets_eval(model, x, training=None):
    flags = {m: m.training for m in model.modules()}
    if training:
        model.train()
    try:
        return model(x)
    finally:
        for m, flag in flags.items():
            m.training = flag


def call_never_restores(model, x, training=None):
    model.train(bool(training))
    return model(x)


def call_restores_top_flag_only(model, x, training=None):
    was_training = model.training
    model.train(bool(training))
    try:
        return model(x)
    finally:
        model.train(was_training)


def call_forces_train_at_the_end(model, x, training=None):
    model.train(bool(training))
    try:
        return model(x)
    finally:
        model.train()


def call_forces_eval_at_the_end(model, x, training=None):
    model.train(bool(training))
    try:
        return model(x)
    finally:
        model.eval()


def call_without_finally(model, x, training=None):
    flags = {m: m.training for m in model.modules()}
    model.train(bool(training))
    out = model(x)
    for m, flag in flags.items():
        m.training = flag
    return out


def call_swallows_the_error(model, x, training=None):
    flags = {m: m.training for m in model.modules()}
    model.train(bool(training))
    try:
        return model(x)
    except RuntimeError:
        return None
    finally:
        for m, flag in flags.items():
            m.training = flag


def call_children_only(model, x, training=None):
    """Switches the submodules but not the model itself, whose own flag its forward reads."""
    flags = {m: m.training for m in model.modules()}
    for child in model.children():
        child.train(bool(training))
    try:
        return model(x)
    finally:
        for m, flag in flags.items():
            m.training = flag


def call_switches_only_when_the_top_flag_differs(model, x, training=None):
    """Looks at the model's own flag only: a mixed model in train mode keeps its eval layer."""
    flags = {m: m.training for m in model.modules()}
    if model.training != bool(training):
        model.train(bool(training))
    try:
        return model(x)
    finally:
        for m, flag in flags.items():
            m.training = flag


def call_none_means_train(model, x, training=None):
    return call_ok(model, x, training is not False)


def call_passes_none_to_train(model, x, training=None):
    flags = {m: m.training for m in model.modules()}
    model.train(training)
    try:
        return model(x)
    finally:
        for m, flag in flags.items():
            m.training = flag


def call_ignores_true(model, x, training=None):
    flags = {m: m.training for m in model.modules()}
    if not training:
        model.eval()
    try:
        return model(x)
    finally:
        for m, flag in flags.items():
            m.training = flag


def call_under_no_grad(model, x, training=None):
    with torch.no_grad():
        return call_ok(model, x, training)


def call_detaches(model, x, training=None):
    return call_ok(model, x, training).detach()


def call_switches_tracking_off(model, x, training=None):
    torch.set_grad_enabled(bool(training))
    return call_ok(model, x, training)


def call_forces_tracking_on(model, x, training=None):
    """Ignores a caller's no_grad(): tracking on inside, back as it was afterwards."""
    with torch.enable_grad():
        return call_ok(model, x, training)


def call_ok_via_forward(model, x, training=None):
    """Correct too: calls forward directly (no hooks of the model itself run)."""
    flags = {m: m.training for m in model.modules()}
    model.train(bool(training))
    try:
        return model.forward(x)
    finally:
        for m, flag in flags.items():
            m.training = flag


def call_switches_tracking_on(model, x, training=None):
    torch.set_grad_enabled(True)
    return call_ok(model, x, training)


def test_exercise_2_accepts_correct_answers(capsys):
    for answer in (call_ok, call_ok_with_a_list, call_ok_via_forward):
        result = nb09.check_exercise_2(answer)
        assert result.passed, result.message
    assert "✅ Exercise 9.2" in capsys.readouterr().out


EXERCISE_2_MISTAKES = [
    (call_forgets_eval, "two calls with training=False", "dropout was still active"),
    (call_children_only, "two calls with training=False", "dropout was still active"),
    (call_never_restores, "a model in train mode came back in eval mode", "mode it had before"),
    (call_restores_top_flag_only, "a model in mixed mode came back in train mode", "mode it had before"),
    (call_forces_train_at_the_end, "a model in eval mode came back in train mode after training=True",
     "modules changed"),
    (call_forces_eval_at_the_end, "a model in train mode came back in eval mode after training=False",
     "modules changed"),
    (call_without_finally, "when the forward pass raised an error", "even when the forward pass fails"),
    (call_swallows_the_error, "torch_call returned normally", "the caller must see the error"),
    (call_switches_only_when_the_top_flag_differs, "on a model in mixed mode", "were not in train mode"),
    (call_none_means_train, "training=None (the argument left out) should mean inference", "eval-mode"),
    (call_passes_none_to_train, "training=None raised", "should mean inference"),
    (call_ignores_true, "training=True must run the model in train mode", "dropout was off"),
    (call_under_no_grad, "has no autograd graph", "could not backpropagate"),
    (call_detaches, "has no autograd graph", "chooses the mode only"),
    (call_switches_tracking_off, "has no autograd graph", "training=False"),
    (call_switches_tracking_on, "gradient tracking was off before torch_call and on after it", ""),
    (call_forces_tracking_on, "the caller switched gradient tracking off", "turned tracking on"),
]


@pytest.mark.parametrize(("solution", "named", "also"), EXERCISE_2_MISTAKES)
def test_exercise_2_names_the_mistake(solution, named, also, capsys):
    result = nb09.check_exercise_2(solution)
    assert not result.passed
    assert named in result.message and also in result.message
    assert torch.is_grad_enabled()
    assert "Hint:" in capsys.readouterr().out


def test_exercise_2_rejects_many_mistakes():
    assert len(EXERCISE_2_MISTAKES) >= 16


# ---------------------------------------------------------------------------
# No code in what a learner reads
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "snippet",
    ["model.eval()", "model.train(", "torch.no_grad()", "inference_mode()", "model(xb",
     "finally:", "float(", "len(x)", "for m in", "set_grad_enabled", ".training for"],
)
def test_failure_messages_and_hints_hold_no_code(snippet, capsys):
    for checker, answers in ((nb09.check_exercise_1, EXERCISE_1_MISTAKES),
                             (nb09.check_exercise_2, EXERCISE_2_MISTAKES)):
        for answer, _, _ in answers:
            _first_answer.clear()
            checker(answer)
    shown = capsys.readouterr().out
    assert snippet not in shown


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
