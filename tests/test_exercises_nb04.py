"""The notebook 04 checkers accept correct answers and explain typical mistakes.

Each wrong answer below is right except for ONE classic mistake, and each test
asserts the words the learner sees. Counts of rejected wrong answers:
exercise 4.1: 14, exercise 4.2: 15 (plus a non-function for each).
"""

from __future__ import annotations

import pytest
import torch

from course_utils.conversions import accuracy
from course_utils.exercises import nb04

# ---------------------------------------------------------------------------
# Exercise 1: train_step_in_chunks
# ---------------------------------------------------------------------------


def _pairs(X, y, chunk_size):
    return zip(X.split(chunk_size), y.split(chunk_size), strict=True)


def step_ok(model, X, y, loss_fn, optimizer, chunk_size):
    model.train()
    optimizer.zero_grad()
    total = 0.0
    for xb, yb in _pairs(X, y, chunk_size):
        loss = loss_fn(model(xb), yb) * len(xb) / len(X)
        loss.backward()
        total += loss.item()
    optimizer.step()
    return total


def step_ok_sum_then_divide(model, X, y, loss_fn, optimizer, chunk_size):
    """Also correct: a summed loss per chunk, divided by the batch size."""
    model.train()
    for p in model.parameters():
        p.grad = None
    total = 0.0
    for start in range(0, len(X), chunk_size):
        xb, yb = X[start : start + chunk_size], y[start : start + chunk_size]
        loss = loss_fn(model(xb), yb) * len(xb)
        (loss / len(X)).backward()
        total += loss.item()
    optimizer.step()
    return total / len(X)


def step_eval_forward_train_after(model, X, y, loss_fn, optimizer, chunk_size):
    model.eval()  # MISTAKE: the forward passes run in eval mode
    optimizer.zero_grad()
    total = 0.0
    for xb, yb in _pairs(X, y, chunk_size):
        loss = loss_fn(model(xb), yb) * len(xb) / len(X)
        loss.backward()
        total += loss.item()
    optimizer.step()
    model.train()
    return total


def step_without_train_mode(model, X, y, loss_fn, optimizer, chunk_size):
    optimizer.zero_grad()
    total = 0.0
    for xb, yb in _pairs(X, y, chunk_size):
        loss = loss_fn(model(xb), yb) * len(xb) / len(X)
        loss.backward()
        total += loss.item()
    optimizer.step()
    return total


def step_whole_batch(model, X, y, loss_fn, optimizer, chunk_size):
    model.train()
    optimizer.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_inside_the_loop(model, X, y, loss_fn, optimizer, chunk_size):
    model.train()
    optimizer.zero_grad()
    total = 0.0
    for xb, yb in _pairs(X, y, chunk_size):
        loss = loss_fn(model(xb), yb) * len(xb) / len(X)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total


def zero_grad_inside_the_loop(model, X, y, loss_fn, optimizer, chunk_size):
    model.train()
    total = 0.0
    for xb, yb in _pairs(X, y, chunk_size):
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb) * len(xb) / len(X)
        loss.backward()
        total += loss.item()
    optimizer.step()
    return total


def summed_not_averaged(model, X, y, loss_fn, optimizer, chunk_size):
    model.train()
    optimizer.zero_grad()
    total = 0.0
    for xb, yb in _pairs(X, y, chunk_size):
        loss = loss_fn(model(xb), yb)
        loss.backward()
        total += loss.item() * len(xb) / len(X)
    optimizer.step()
    return total


def unweighted_chunks(model, X, y, loss_fn, optimizer, chunk_size):
    model.train()
    optimizer.zero_grad()
    n_chunks = -(-len(X) // chunk_size)
    total = 0.0
    for xb, yb in _pairs(X, y, chunk_size):
        loss = loss_fn(model(xb), yb) / n_chunks
        loss.backward()
        total += loss.item()
    optimizer.step()
    return total


def unweighted_gradient_weighted_loss(model, X, y, loss_fn, optimizer, chunk_size):
    model.train()
    optimizer.zero_grad()
    n_chunks = -(-len(X) // chunk_size)
    total = 0.0
    for xb, yb in _pairs(X, y, chunk_size):
        loss = loss_fn(model(xb), yb)
        (loss / n_chunks).backward()
        total += loss.item() * len(xb) / len(X)
    optimizer.step()
    return total


def without_zero_grad(model, X, y, loss_fn, optimizer, chunk_size):
    model.train()
    total = 0.0
    for xb, yb in _pairs(X, y, chunk_size):
        loss = loss_fn(model(xb), yb) * len(xb) / len(X)
        loss.backward()
        total += loss.item()
    optimizer.step()
    return total


def zero_grad_after_step(model, X, y, loss_fn, optimizer, chunk_size):
    total = without_zero_grad(model, X, y, loss_fn, optimizer, chunk_size)
    optimizer.zero_grad()
    return total


def returns_tensor(model, X, y, loss_fn, optimizer, chunk_size):
    return torch.tensor(step_ok(model, X, y, loss_fn, optimizer, chunk_size))


def returns_sum_of_chunk_losses(model, X, y, loss_fn, optimizer, chunk_size):
    model.train()
    optimizer.zero_grad()
    total = 0.0
    for xb, yb in _pairs(X, y, chunk_size):
        loss = loss_fn(model(xb), yb)
        (loss * len(xb) / len(X)).backward()
        total += loss.item()
    optimizer.step()
    return total


def returns_last_chunk_loss(model, X, y, loss_fn, optimizer, chunk_size):
    model.train()
    optimizer.zero_grad()
    for xb, yb in _pairs(X, y, chunk_size):
        loss = loss_fn(model(xb), yb)
        (loss * len(xb) / len(X)).backward()
    optimizer.step()
    return loss.item()


def drops_short_last_chunk(model, X, y, loss_fn, optimizer, chunk_size):
    full = len(X) // chunk_size * chunk_size or len(X)
    return step_ok(model, X[:full], y[:full], loss_fn, optimizer, chunk_size)


@pytest.mark.parametrize("correct", [step_ok, step_ok_sum_then_divide])
def test_train_step_correct_passes(correct, capsys):
    result = nb04.check_exercise_1(correct)
    assert result.passed, result.message
    assert "✅ Exercise 4.1" in capsys.readouterr().out


EXERCISE_1_MISTAKES = [
    (step_eval_forward_train_after, "in train mode only afterwards"),
    (step_without_train_mode, "your forward passes ran with"),
    (step_whole_batch, "examples at once"),
    (step_inside_the_loop, "the optimizer took 3 steps"),
    (zero_grad_inside_the_loop, "used only some chunks' gradients"),
    (summed_not_averaged, "their sum instead of their mean"),
    (unweighted_chunks, "counts by its size"),
    (unweighted_gradient_weighted_loss, "the short last chunk should count half"),
    (without_zero_grad, "left over from an earlier backward pass"),
    (zero_grad_after_step, "left over from an earlier backward pass"),
    (returns_tensor, "you returned a tensor"),
    (returns_sum_of_chunk_losses, "before the update"),
    (returns_last_chunk_loss, "before the update"),
    (drops_short_last_chunk, "every example should go through the model exactly once"),
]


@pytest.mark.parametrize(("wrong", "says"), [*EXERCISE_1_MISTAKES, ("train_step", "expected a function")])
def test_train_step_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb04.check_exercise_1(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message, result.message
    assert "❌ Exercise 4.1" in out and "Hint:" in out
    assert "Traceback" not in out


def test_checker_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    nb04.check_exercise_1(step_ok)
    nb04.check_exercise_2(eval_ok)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------------------
# Exercise 2: test_step_in_chunks (the fixed version of the notebook's buggy one)
# ---------------------------------------------------------------------------


def eval_ok(model, X, y, loss_fn, chunk_size):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    loss_sum = correct = 0.0
    try:
        with torch.inference_mode():
            for xb, yb in _pairs(X, y, chunk_size):
                logits = model(xb)
                loss_sum += loss_fn(logits, yb).item() * len(xb)
                correct += accuracy(logits, yb) * len(xb)
    finally:
        for m, flag in flags.items():
            m.training = flag
    return loss_sum / len(X), correct / len(X)


def eval_ok_concatenated(model, X, y, loss_fn, chunk_size):
    """Also correct: chunked forward passes, the metrics computed once on all logits."""
    from course_utils.modes import eval_mode

    with eval_mode(model), torch.no_grad():
        logits = torch.cat([model(xb) for xb in X.split(chunk_size)])
        return loss_fn(logits, y).item(), accuracy(logits, y)


def eval_ok_on_a_copy(model, X, y, loss_fn, chunk_size):
    """Also correct: evaluate a copy in eval mode; the caller's model is never switched."""
    import copy

    return eval_ok(copy.deepcopy(model).eval(), X, y, loss_fn, chunk_size)


def eval_leaves_eval(model, X, y, loss_fn, chunk_size):
    model.eval()  # MISTAKE: never given back
    loss_sum = correct = 0.0
    with torch.inference_mode():
        for xb, yb in _pairs(X, y, chunk_size):
            logits = model(xb)
            loss_sum += loss_fn(logits, yb).item() * len(xb)
            correct += accuracy(logits, yb) * len(xb)
    return loss_sum / len(X), correct / len(X)


def eval_forces_train_after(model, X, y, loss_fn, chunk_size):
    result = eval_leaves_eval(model, X, y, loss_fn, chunk_size)
    model.train()  # MISTAKE: un-freezes a model that was in eval mode
    return result


def eval_buggy_from_notebook(model, X, y, loss_fn, chunk_size):
    losses, accs = [], []
    for xb, yb in _pairs(X, y, chunk_size):
        logits = model(xb)
        losses.append(loss_fn(logits, yb).item())
        accs.append(accuracy(logits, yb))
    return sum(losses) / len(losses), sum(accs) / len(accs)


def eval_without_eval(model, X, y, loss_fn, chunk_size):
    loss_sum = correct = 0.0
    with torch.inference_mode():
        for xb, yb in _pairs(X, y, chunk_size):
            logits = model(xb)
            loss_sum += loss_fn(logits, yb).item() * len(xb)
            correct += accuracy(logits, yb) * len(xb)
    return loss_sum / len(X), correct / len(X)


def eval_with_tracking(model, X, y, loss_fn, chunk_size):
    model.eval()
    loss_sum = correct = 0.0
    for xb, yb in _pairs(X, y, chunk_size):
        logits = model(xb).detach()
        loss_sum += loss_fn(logits, yb).item() * len(xb)
        correct += accuracy(logits, yb) * len(xb)
    return loss_sum / len(X), correct / len(X)


def eval_unweighted(model, X, y, loss_fn, chunk_size):
    model.eval()
    losses, accs = [], []
    with torch.inference_mode():
        for xb, yb in _pairs(X, y, chunk_size):
            logits = model(xb)
            losses.append(loss_fn(logits, yb).item())
            accs.append(accuracy(logits, yb))
    return sum(losses) / len(losses), sum(accs) / len(accs)


def eval_grad_left_off(model, X, y, loss_fn, chunk_size):
    model.eval()
    torch.set_grad_enabled(False)
    loss_sum = correct = 0.0
    for xb, yb in _pairs(X, y, chunk_size):
        logits = model(xb)
        loss_sum += loss_fn(logits, yb).item() * len(xb)
        correct += accuracy(logits, yb) * len(xb)
    return loss_sum / len(X), correct / len(X)


def eval_grad_forced_on(model, X, y, loss_fn, chunk_size):
    result = eval_grad_left_off(model, X, y, loss_fn, chunk_size)
    torch.set_grad_enabled(True)
    return result


def eval_returns_tensors(model, X, y, loss_fn, chunk_size):
    loss, acc = eval_ok(model, X, y, loss_fn, chunk_size)
    return torch.tensor(loss), torch.tensor(acc)


def eval_binary_only_accuracy(model, X, y, loss_fn, chunk_size):
    model.eval()
    loss_sum = correct = 0.0
    with torch.inference_mode():
        for xb, yb in _pairs(X, y, chunk_size):
            logits = model(xb)
            loss_sum += loss_fn(logits, yb).item() * len(xb)
            labels = (logits[:, 0] > 0).long()
            correct += (labels == yb.reshape(-1).long()).sum().item()
    return loss_sum / len(X), correct / len(X)


def eval_whole_batch(model, X, y, loss_fn, chunk_size):
    return eval_ok(model, X, y, loss_fn, len(X))


def eval_drops_short_last_chunk(model, X, y, loss_fn, chunk_size):
    full = len(X) // chunk_size * chunk_size or len(X)
    return eval_ok(model, X[:full], y[:full], loss_fn, chunk_size)


def eval_first_chunk_accuracy(model, X, y, loss_fn, chunk_size):
    model.eval()
    loss_sum, accs = 0.0, []
    with torch.inference_mode():
        for xb, yb in _pairs(X, y, chunk_size):
            logits = model(xb)
            loss_sum += loss_fn(logits, yb).item() * len(xb)
            accs.append(accuracy(logits, yb))
    return loss_sum / len(X), accs[0]


@pytest.mark.parametrize("correct", [eval_ok, eval_ok_concatenated, eval_ok_on_a_copy])
def test_test_step_correct_passes(correct, capsys):
    result = nb04.check_exercise_2(correct)
    assert result.passed, result.message
    assert "✅ Exercise 4.2" in capsys.readouterr().out


EXERCISE_2_MISTAKES = [
    (eval_buggy_from_notebook, "in train mode"),
    (eval_without_eval, "in train mode"),
    (eval_with_tracking, "gradient tracking on"),
    (eval_unweighted, "a short last chunk counts by its size"),
    (eval_grad_left_off, "is off after it"),
    (eval_grad_forced_on, "switched gradient tracking back ON"),
    (eval_returns_tensors, "you returned tensors"),
    (eval_binary_only_accuracy, "3-class model"),
    (eval_whole_batch, "examples at once"),
    (eval_drops_short_last_chunk, "every example should go through the model exactly once"),
    (eval_first_chunk_accuracy, "one evaluation of the whole batch"),
    (lambda model, X, y, loss_fn, chunk_size: 0.5, "expected a pair"),
    (lambda model, X, y, loss_fn, chunk_size: (0.5, 0.9), "the model was never called"),
    (eval_leaves_eval, "a model in train mode (as the previous training epoch left it) came back"),
    (eval_forces_train_after, "a model kept in eval mode on purpose (frozen) came back"),
]


@pytest.mark.parametrize(("wrong", "says"), [*EXERCISE_2_MISTAKES, (42, "expected a function")])
def test_test_step_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb04.check_exercise_2(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message, result.message
    assert "❌ Exercise 4.2" in out and "Hint:" in out
    assert "Traceback" not in out
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("checker", [nb04.check_exercise_1, nb04.check_exercise_2])
def test_messages_and_hints_hold_no_code(checker):
    """A failure says what went wrong, not the code to write."""
    result = checker(lambda *args: None)
    assert not result.passed
    for code in ("model.train()", "model.eval()", "zero_grad()", "inference_mode():", ".item()",
                 "loss.backward()", "optimizer.step()", "* len(", "/ len("):
        assert code not in result.message
