"""The notebook 07 checkers accept correct answers and explain typical mistakes."""

from __future__ import annotations

import pytest
import torch

from course_utils.exercises import nb07
from course_utils.modes import preserved_state

# ---------------------------------------------------------------------------
# Exercise 1: conv_output_size
# ---------------------------------------------------------------------------


def conv_output_size(size, kernel_size, stride=1, padding=0):
    return (size + 2 * padding - kernel_size) // stride + 1


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (lambda size, kernel_size, stride=1, padding=0: (size + 2 * padding - kernel_size) / stride + 1, "floor division"),
        (lambda size, kernel_size, stride=1, padding=0: (size - kernel_size) // stride + 1, "BOTH sides"),
        (lambda size, kernel_size, stride=1, padding=0: (size + padding - kernel_size) // stride + 1, "count it twice"),
        (lambda size, kernel_size, stride=1, padding=0: (size + 2 * padding - kernel_size) // stride, "+ 1"),
        (lambda size, kernel_size, stride=1, padding=0: size + 2 * padding - kernel_size + 1, "divide by the stride"),
        (lambda size, kernel_size, stride=1, padding=0: -(-(size + 2 * padding - kernel_size) // stride) + 1, "round DOWN"),
        (lambda size, kernel_size, stride=1, padding=0: torch.tensor(conv_output_size(size, kernel_size, stride, padding)), "return a Python int"),
        (lambda size, kernel_size: size - kernel_size + 1, "your code raised TypeError"),
        ("24", "expected a function"),
    ],
)
def test_conv_output_size_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb07.check_exercise_1(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message
    assert "❌ Exercise 1" in out and "Hint:" in out and "Traceback" not in out


def test_conv_output_size_correct_passes(capsys):
    assert nb07.check_exercise_1(conv_output_size).passed
    assert "✅ Exercise 1" in capsys.readouterr().out


# ---------------------------------------------------------------------------
# Exercise 2: stable_accuracy
# ---------------------------------------------------------------------------


def stable_accuracy(model, X, y, batch_size=32):
    with preserved_state(model), torch.inference_mode():
        model.eval()
        correct = 0
        for xb, yb in zip(X.split(batch_size), y.split(batch_size), strict=True):
            correct += (model(xb).argmax(dim=1) == yb).sum().item()
    return correct / len(y)


def stable_accuracy_by_hand(model, X, y, batch_size=32):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            preds = torch.cat([model(xb).argmax(1) for xb in X.split(batch_size)])
        return (preds == y).float().mean().item()
    finally:
        for m, flag in flags.items():
            m.training = flag


def forgets_eval(model, X, y, batch_size=32):
    with preserved_state(model), torch.no_grad():
        correct = sum((model(xb).argmax(1) == yb).sum().item()
                      for xb, yb in zip(X.split(batch_size), y.split(batch_size), strict=True))
    return correct / len(y)


def mean_of_batches(model, X, y, batch_size=32):
    with preserved_state(model), torch.no_grad():
        model.eval()
        accs = [(model(xb).argmax(1) == yb).float().mean().item()
                for xb, yb in zip(X.split(batch_size), y.split(batch_size), strict=True)]
    return sum(accs) / len(accs)


def leaves_eval(model, X, y, batch_size=32):
    model.eval()
    with torch.no_grad():
        return (model(X).argmax(1) == y).float().mean().item()


def restores_only_top_flag(model, X, y, batch_size=32):
    was = model.training
    model.eval()
    with torch.no_grad():
        acc = (model(X).argmax(1) == y).float().mean().item()
    model.train(was)
    return acc


def with_graph(model, X, y, batch_size=32):
    with preserved_state(model):
        model.eval()
        return (model(X).argmax(1) == y).float().mean().item()


def switches_grad_off(model, X, y, batch_size=32):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    torch.set_grad_enabled(False)
    acc = (model(X).argmax(1) == y).float().mean().item()
    for m, flag in flags.items():
        m.training = flag
    return acc


def returns_tensor(model, X, y, batch_size=32):
    with preserved_state(model), torch.no_grad():
        model.eval()
        return (model(X).argmax(1) == y).float().mean()


def returns_count(model, X, y, batch_size=32):
    with preserved_state(model), torch.no_grad():
        model.eval()
        return (model(X).argmax(1) == y).sum().item()


@pytest.mark.parametrize("solution", [stable_accuracy, stable_accuracy_by_hand])
def test_stable_accuracy_correct_passes(solution, capsys):
    assert nb07.check_exercise_2(solution).passed
    assert "✅ Exercise 2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (forgets_eval, "call model.eval() first"),
        (mean_of_batches, "last, smaller batch"),
        (leaves_eval, "a model in train mode, stable_accuracy changed the modes"),
        (restores_only_top_flag, "mixed-mode model"),
        (with_graph, "autograd saved"),
        (switches_grad_off, "gradient tracking is off"),
        (returns_tensor, "not a tensor"),
        (returns_count, "between 0 and 1"),
        (None, "expected a function"),
    ],
)
def test_stable_accuracy_mistakes_fail_with_a_reason(wrong, says, capsys):
    grad_was = torch.is_grad_enabled()
    result = nb07.check_exercise_2(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message
    assert "Hint:" in out and "Traceback" not in out
    assert torch.is_grad_enabled() == grad_was, "the checker must switch gradient tracking back on"


def test_checkers_do_not_move_the_callers_random_stream():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    nb07.check_exercise_1(conv_output_size)
    nb07.check_exercise_2(stable_accuracy)
    assert torch.equal(torch.rand(3), expected)
