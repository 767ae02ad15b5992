"""The notebook 04 checkers accept correct answers and explain typical mistakes."""

from __future__ import annotations

import pytest
import torch

from course_utils.conversions import accuracy
from course_utils.exercises import nb04

# ---------------------------------------------------------------------------
# Exercise 1: train_step
# ---------------------------------------------------------------------------


def train_step(model, X, y, loss_fn, optimizer):
    model.train()
    logits = model(X)
    loss = loss_fn(logits, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def train_step_zero_grad_last(model, X, y, loss_fn, optimizer):
    """Also correct: clearing the gradients after the step works just as well."""
    model.train()
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def without_zero_grad(model, X, y, loss_fn, optimizer):
    model.train()
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def zero_grad_between_backward_and_step(model, X, y, loss_fn, optimizer):
    model.train()
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()


def without_train_mode(model, X, y, loss_fn, optimizer):
    loss = loss_fn(model(X), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def returns_tensor(model, X, y, loss_fn, optimizer):
    model.train()
    loss = loss_fn(model(X), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def returns_loss_after_step(model, X, y, loss_fn, optimizer):
    train_step(model, X, y, loss_fn, optimizer)
    with torch.no_grad():
        return loss_fn(model(X), y).item()


def two_steps(model, X, y, loss_fn, optimizer):
    loss = train_step(model, X, y, loss_fn, optimizer)
    train_step(model, X, y, loss_fn, optimizer)  # one step too many
    return loss


@pytest.mark.parametrize("correct", [train_step, train_step_zero_grad_last])
def test_train_step_correct_passes(correct, capsys):
    result = nb04.check_exercise_1(correct)
    assert result.passed
    assert "✅ Exercise 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (without_zero_grad, "Call optimizer.zero_grad() before loss.backward()"),
        (zero_grad_between_backward_and_step, "the weights did not change"),
        (without_train_mode, "call model.train() first"),
        (returns_tensor, "return loss.item()"),
        (returns_loss_after_step, "before the update"),
        (two_steps, "exactly once"),
        (lambda model, X, y, loss_fn, optimizer: None, "expected the loss as a float"),
        ("train_step", "expected a function"),
    ],
)
def test_train_step_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb04.check_exercise_1(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message
    assert "❌ Exercise 1" in out and "Hint:" in out
    assert "Traceback" not in out


def test_checker_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    nb04.check_exercise_1(train_step)
    nb04.check_exercise_2(correct_test_step)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------------------
# Exercise 2: test_step
# ---------------------------------------------------------------------------


def correct_test_step(model, X, y, loss_fn):
    model.eval()
    with torch.inference_mode():
        logits = model(X)
        return loss_fn(logits, y).item(), accuracy(logits, y)


def correct_test_step_no_grad(model, X, y, loss_fn):
    """torch.no_grad() is an acceptable alternative to inference_mode()."""
    model.eval()
    with torch.no_grad():
        logits = model(X)
    return loss_fn(logits, y).item(), accuracy(logits, y)


def without_eval(model, X, y, loss_fn):
    with torch.inference_mode():
        logits = model(X)
        return loss_fn(logits, y).item(), accuracy(logits, y)


def with_graph(model, X, y, loss_fn):
    model.eval()
    logits = model(X)
    return loss_fn(logits, y).item(), accuracy(logits.detach(), y)


def grad_left_off(model, X, y, loss_fn):
    model.eval()
    torch.set_grad_enabled(False)
    logits = model(X)
    return loss_fn(logits, y).item(), accuracy(logits, y)


def binary_only_accuracy(model, X, y, loss_fn):
    model.eval()
    with torch.inference_mode():
        logits = model(X)
        labels = (torch.sigmoid(logits[:, 0]) >= 0.5).long()
        acc = (labels == y.reshape(-1).long()).float().mean().item()
        return loss_fn(logits, y).item(), acc


def returns_tensors(model, X, y, loss_fn):
    model.eval()
    with torch.inference_mode():
        logits = model(X)
        return loss_fn(logits, y), torch.tensor(accuracy(logits, y))


@pytest.mark.parametrize("correct", [correct_test_step, correct_test_step_no_grad])
def test_test_step_correct_passes(correct, capsys):
    result = nb04.check_exercise_2(correct)
    assert result.passed
    assert "✅ Exercise 2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (without_eval, "call model.eval() before the forward pass"),
        (with_graph, "torch.inference_mode()"),
        (grad_left_off, "still off after test_step returned"),
        (binary_only_accuracy, "3-class model"),
        (returns_tensors, "you returned tensors"),
        (lambda model, X, y, loss_fn: 0.5, "expected a pair"),
        (42, "expected a function"),
    ],
)
def test_test_step_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb04.check_exercise_2(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message
    assert "❌ Exercise 2" in out and "Hint:" in out
    assert "Traceback" not in out
    assert torch.is_grad_enabled()
