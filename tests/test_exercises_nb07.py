"""The notebook 07 checkers accept correct answers and reject each classic mistake with a
message that says what the answer did (never the code to write)."""

from __future__ import annotations

import pytest
import torch

from course_utils.exercises import nb07
from course_utils.modes import preserved_state

# ---------------------------------------------------------------------------
# Exercise 7.1: conv_output_size and in_features
# ---------------------------------------------------------------------------

IN_FEATURES = 288  # 32x32 -> 16 -> 8 -> 6 -> 3, times 32 channels


def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    span = dilation * (kernel_size - 1) + 1
    if span > size + 2 * padding:
        raise ValueError(f"a kernel spanning {span} pixels does not fit in {size + 2 * padding}")
    return (size + 2 * padding - span) // stride + 1


def _with(formula):
    """A conv_output_size whose size formula is ``formula`` (right input check, right signature)."""

    def f(size, kernel_size, stride=1, padding=0, dilation=1):
        if dilation * (kernel_size - 1) + 1 > size + 2 * padding:
            raise ValueError("does not fit")
        return formula(size, kernel_size, stride, padding, dilation)

    return f


def _span(k, d):
    return d * (k - 1) + 1


def _fit_ignores_padding(size, kernel_size, stride=1, padding=0, dilation=1):
    span = dilation * (kernel_size - 1) + 1
    if span > size:  # refuses a 3x3 pad-1 conv on a 1x1 or 2x2 map, which nn.Conv2d accepts
        raise ValueError("does not fit")
    return (size + 2 * padding - span) // stride + 1


def test_a_float_with_a_fractional_part_is_named_so():
    assert "fractional part" in nb07._diagnose(4.5, 8, 3, 2, 1, 1, 4)
    assert "fractional" not in nb07._diagnose(4.0, 8, 3, 2, 1, 1, 4)


def test_in_features_is_what_the_network_gives():
    assert nb07.exercise_1_network()(torch.zeros(2, 3, 32, 32)).shape == (2, IN_FEATURES)


def test_conv_output_size_correct_passes(capsys):
    assert nb07.check_exercise_1(conv_output_size, IN_FEATURES).passed
    assert "✅ Exercise 7.1 passed" in capsys.readouterr().out


CONV_MISTAKES = {
    "true division": (_with(lambda n, k, s, p, d: (n + 2 * p - _span(k, d)) / s + 1),
                      "returned the float 24.0, expected the int 24: a side length counts pixels"),
    "padding ignored": (_with(lambda n, k, s, p, d: (n - _span(k, d)) // s + 1), "padding was not counted"),
    "padding on one side": (_with(lambda n, k, s, p, d: (n + p - _span(k, d)) // s + 1), "on EACH side"),
    "no + 1": (_with(lambda n, k, s, p, d: (n + 2 * p - _span(k, d)) // s), "one window position is missing"),
    "stride ignored": (_with(lambda n, k, s, p, d: n + 2 * p - _span(k, d) + 1), "jumps 2 pixels at a time"),
    "rounds up": (_with(lambda n, k, s, p, d: -(-(n + 2 * p - _span(k, d)) // s) + 1), "run past the edge is dropped"),
    "dilation ignored": (_with(lambda n, k, s, p, d: (n + 2 * p - k) // s + 1), "taps of the kernel lie 2 pixels apart"),
    "returns a tensor": (lambda n, kernel_size, stride=1, padding=0, dilation=1: torch.tensor(
        conv_output_size(n, kernel_size, stride, padding, dilation)), "expected the int"),
    "no dilation parameter": (lambda size, kernel_size, stride=1, padding=0: (size + 2 * padding - kernel_size) // stride + 1,
                              "your code raised TypeError"),
    "kernel too big returns 0 or less": (lambda n, kernel_size, stride=1, padding=0, dilation=1:
                                         (n + 2 * padding - _span(kernel_size, dilation)) // stride + 1,
                                         "raise a ValueError that says so"),
    "fit test ignores the padding": (_fit_ignores_padding, "the padding counts when you ask whether the kernel fits"),
    "not a function": ("24", "expected a function"),
}


@pytest.mark.parametrize("mistake", CONV_MISTAKES)
def test_conv_output_size_mistakes_fail_with_a_reason(mistake, capsys):
    wrong, says = CONV_MISTAKES[mistake]
    result = nb07.check_exercise_1(wrong, IN_FEATURES)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message
    assert "❌ Exercise 7.1" in out and "Hint:" in out and "Traceback" not in out


IN_FEATURES_MISTAKES = {
    "dilation ignored": (512, "taps lie 2 pixels apart"),
    "last pool forgotten": (1152, "halves them once more"),
    "first pool forgotten": (1568, "skips the first MaxPool2d"),
    "one channel": (9, "Flatten keeps all 32 channels"),
    "channels of the first conv": (144, "16 channels of the first conv"),
    "height only": (96, "not 3"),
    "something else": (300, "follow one side length"),
    "a float": (288.0, "must be an int"),
    "not given": (None, "no in_features was given"),
}


@pytest.mark.parametrize("mistake", IN_FEATURES_MISTAKES)
def test_in_features_mistakes_fail_with_a_reason(mistake, capsys):
    wrong, says = IN_FEATURES_MISTAKES[mistake]
    result = nb07.check_exercise_1(conv_output_size, wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert "check 10 of 10" in result.message and says in result.message
    assert "❌ Exercise 7.1" in out and "Traceback" not in out


# ---------------------------------------------------------------------------
# Exercise 7.2: stable_accuracy
# ---------------------------------------------------------------------------


def stable_accuracy(model, X, y, batch_size=32):
    if len(y) == 0:
        raise ValueError("the test set is empty: there is no accuracy to compute")
    correct = 0
    with preserved_state(model), torch.inference_mode():
        model.eval()
        for xb, yb in zip(X.split(batch_size), y.split(batch_size), strict=True):
            correct += (model(xb).argmax(dim=1) == yb).sum().item()
    return correct / len(y)


def stable_accuracy_by_hand(model, X, y, batch_size=32):
    if len(X) == 0:
        raise ValueError("empty")
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            preds = torch.cat([model(xb).argmax(1) for xb in X.split(batch_size)])
        return (preds == y).float().mean().item()
    finally:
        for m, flag in flags.items():
            m.training = flag


@pytest.mark.parametrize("solution", [stable_accuracy, stable_accuracy_by_hand])
def test_stable_accuracy_correct_passes(solution, capsys):
    assert nb07.check_exercise_2(solution).passed
    assert "✅ Exercise 7.2 passed (15 checks)" in capsys.readouterr().out


# Each wrong answer below is right except for one classic mistake.


def _count(model, X, y, batch_size):
    return sum((model(xb).argmax(1) == yb).sum().item()
               for xb, yb in zip(X.split(batch_size), y.split(batch_size), strict=True))


def forgets_eval(model, X, y, batch_size=32):  # forward pass in the wrong mode
    if len(y) == 0:
        raise ValueError("empty")
    with preserved_state(model), torch.no_grad():
        return _count(model, X, y, batch_size) / len(y)


def hard_coded(model, X, y, batch_size=32):
    if len(y) == 0:
        raise ValueError("empty")
    with preserved_state(model), torch.no_grad():
        model.eval()
        model(X[:batch_size])
    return 0.75


def mean_of_batches(model, X, y, batch_size=32):
    if len(y) == 0:
        raise ValueError("empty")
    with preserved_state(model), torch.no_grad():
        model.eval()
        accs = [(model(xb).argmax(1) == yb).float().mean().item()
                for xb, yb in zip(X.split(batch_size), y.split(batch_size), strict=True)]
    return sum(accs) / len(accs)


def divides_by_full_batches(model, X, y, batch_size=32):
    if len(y) == 0:
        raise ValueError("empty")
    with preserved_state(model), torch.no_grad():
        model.eval()
        n_batches = len(X.split(batch_size))
        return _count(model, X, y, batch_size) / (n_batches * batch_size)


def last_batch_only(model, X, y, batch_size=32):  # `correct =` instead of `correct +=`
    if len(y) == 0:
        raise ValueError("empty")
    correct = 0
    with preserved_state(model), torch.no_grad():
        model.eval()
        for xb, yb in zip(X.split(batch_size), y.split(batch_size), strict=True):
            correct = (model(xb).argmax(1) == yb).sum().item()
    return correct / len(y)


def ignores_batch_size(model, X, y, batch_size=32):
    if len(y) == 0:
        raise ValueError("empty")
    with preserved_state(model), torch.inference_mode():
        model.eval()
        return (model(X).argmax(1) == y).float().mean().item()


def forces_train_at_end(model, X, y, batch_size=32):  # the notebook's validate()
    if len(y) == 0:
        raise ValueError("empty")
    model.eval()
    with torch.no_grad():
        acc = _count(model, X, y, batch_size) / len(y)
    model.train()
    return acc


def leaves_eval(model, X, y, batch_size=32):
    if len(y) == 0:
        raise ValueError("empty")
    model.eval()
    with torch.no_grad():
        return _count(model, X, y, batch_size) / len(y)


def restores_only_top_flag(model, X, y, batch_size=32):
    if len(y) == 0:
        raise ValueError("empty")
    was = model.training
    model.eval()
    with torch.no_grad():
        acc = _count(model, X, y, batch_size) / len(y)
    model.train(was)
    return acc


def restores_without_finally(model, X, y, batch_size=32):
    if len(y) == 0:
        raise ValueError("empty")
    flags = {m: m.training for m in model.modules()}
    model.eval()
    with torch.inference_mode():
        acc = _count(model, X, y, batch_size) / len(y)
    for m, flag in flags.items():
        m.training = flag
    return acc


def swallows_errors(model, X, y, batch_size=32):
    if len(y) == 0:
        raise ValueError("empty")
    correct = 0
    with preserved_state(model), torch.inference_mode():
        model.eval()
        for xb, yb in zip(X.split(batch_size), y.split(batch_size), strict=True):
            try:
                correct += (model(xb).argmax(1) == yb).sum().item()
            except RuntimeError:
                continue
    return correct / len(y)


def detaches_after_tracking(model, X, y, batch_size=32):
    if len(y) == 0:
        raise ValueError("empty")
    correct = 0
    with preserved_state(model):
        model.eval()
        for xb, yb in zip(X.split(batch_size), y.split(batch_size), strict=True):
            correct += (model(xb).detach().argmax(1) == yb).sum().item()
    return correct / len(y)


def switches_grad_off(model, X, y, batch_size=32):
    if len(y) == 0:
        raise ValueError("empty")
    flags = {m: m.training for m in model.modules()}
    model.eval()
    torch.set_grad_enabled(False)
    try:
        return _count(model, X, y, batch_size) / len(y)
    finally:
        for m, flag in flags.items():
            m.training = flag


def empty_divides_by_zero(model, X, y, batch_size=32):
    with preserved_state(model), torch.inference_mode():
        model.eval()
        return _count(model, X, y, batch_size) / len(y)


def empty_returns_zero(model, X, y, batch_size=32):
    if len(y) == 0:
        return 0.0
    return stable_accuracy(model, X, y, batch_size)


def returns_tensor(model, X, y, batch_size=32):
    if len(y) == 0:
        raise ValueError("empty")
    with preserved_state(model), torch.no_grad():
        model.eval()
        return (model(X).argmax(1) == y).float().mean()


def returns_count(model, X, y, batch_size=32):
    if len(y) == 0:
        raise ValueError("empty")
    with preserved_state(model), torch.no_grad():
        model.eval()
        return float(_count(model, X, y, batch_size))


def grad_switch_without_finally(model, X, y, batch_size=32):
    """Switches tracking off, and back to what it was at the end, but not when a forward pass raises."""
    if len(y) == 0:
        raise ValueError("empty")
    was_on = torch.is_grad_enabled()
    torch.set_grad_enabled(False)
    with preserved_state(model):
        model.eval()
        result = _count(model, X, y, batch_size) / len(y)
    torch.set_grad_enabled(was_on)
    return result


def grad_forced_on_at_the_end(model, X, y, batch_size=32):
    """Restores tracking on every way out, but always to on, whatever the caller had."""
    if len(y) == 0:
        raise ValueError("empty")
    torch.set_grad_enabled(False)
    try:
        with preserved_state(model):
            model.eval()
            return _count(model, X, y, batch_size) / len(y)
    finally:
        torch.set_grad_enabled(True)


ACCURACY_MISTAKES = {
    "forward pass in train mode": (forgets_eval, "the forward passes ran in train mode"),
    "hard-coded 0.75": (hard_coded, "the accuracy of the first one"),
    "mean of the per-batch accuracies": (mean_of_batches, "mean of the 3 per-batch accuracies, which gives the last batch (5 images)"),
    "divides by batches x batch_size": (divides_by_full_batches, "divides by 3 x 20 = 60 images, but there are only 45"),
    "counts only the last batch": (last_batch_only, "only the last batch's correct predictions"),
    "ignores batch_size": (ignores_batch_size, "the model saw batches of sizes [60]"),
    "forces train mode at the end": (forces_train_at_end, "for a model in eval mode, stable_accuracy changed"),
    "leaves the model in eval": (leaves_eval, "for a model in train mode, stable_accuracy changed"),
    "restores only the top flag": (restores_only_top_flag, "a mixed-mode model"),
    "restores without finally": (restores_without_finally, "also when an error interrupts the loop"),
    "swallows the error": (swallows_errors, "the error must reach the caller"),
    "tracking on, then detach()": (detaches_after_tracking, "autograd saved"),
    "leaves gradient tracking off": (switches_grad_off, "gradient tracking is off"),
    "grad switch not restored on error": (grad_switch_without_finally, "gradient tracking was off for the rest"),
    "grad switch forced on at the end": (grad_forced_on_at_the_end, "called with gradient tracking switched off by the caller"),
    "empty test set: ZeroDivisionError": (empty_divides_by_zero, "raise ZeroDivisionError"),
    "empty test set: returns 0.0": (empty_returns_zero, "there is no accuracy to report"),
    "returns a tensor": (returns_tensor, "returned a tensor"),
    "returns a count": (returns_count, "between 0 and 1"),
    "not a function": (None, "expected a function"),
}


@pytest.mark.parametrize("mistake", ACCURACY_MISTAKES)
def test_stable_accuracy_mistakes_fail_with_a_reason(mistake, capsys):
    wrong, says = ACCURACY_MISTAKES[mistake]
    grad_was = torch.is_grad_enabled()
    result = nb07.check_exercise_2(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message
    assert "❌ Exercise 7.2" in out and "Hint:" in out and "Traceback" not in out
    assert torch.is_grad_enabled() == grad_was, "the checker must switch gradient tracking back on"


@pytest.mark.parametrize("check", [nb07.check_exercise_1, nb07.check_exercise_2])
def test_no_message_or_hint_shows_code(check, capsys):
    """Failure messages and hints describe behaviour; they never spell out the answer's code."""
    wrongs = [w for w, _ in (CONV_MISTAKES if check is nb07.check_exercise_1 else ACCURACY_MISTAKES).values()]
    for wrong in wrongs:
        check(wrong, IN_FEATURES) if check is nb07.check_exercise_1 else check(wrong)
    out = capsys.readouterr().out
    for code in ("//", "model.eval()", ".item()", "inference_mode", "no_grad", "preserved_state",
                 "split(", "finally", "len(y)", "+ 1"):
        assert code not in out, f"a message or hint shows code: {code!r}"


def test_checkers_do_not_move_the_callers_random_stream():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    nb07.check_exercise_1(conv_output_size, IN_FEATURES)
    nb07.check_exercise_2(stable_accuracy)
    assert torch.equal(torch.rand(3), expected)
