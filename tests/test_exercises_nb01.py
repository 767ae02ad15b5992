"""The notebook 01 checkers accept correct answers and explain typical mistakes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.exercises import nb01
from course_utils.modes import eval_mode

# ---------------------------------------------------------------------------
# Exercise 1: count_modes
# ---------------------------------------------------------------------------


def count_modes(model: nn.Module) -> tuple[int, int]:
    n_train = sum(m.training for m in model.modules())
    return n_train, len(list(model.modules())) - n_train


def count_children_only(model: nn.Module) -> tuple[int, int]:
    n_train = sum(m.training for m in model.children())
    return n_train, len(list(model.children())) - n_train


def count_swapped(model: nn.Module) -> tuple[int, int]:
    return count_modes(model)[::-1]


def count_by_switching(model: nn.Module) -> tuple[int, int]:
    result = count_modes(model)
    model.train()  # "tidies up" and destroys the learner's mixed modes
    return result


def test_count_modes_correct_passes(capsys):
    result = nb01.check_exercise_1(count_modes)
    assert result.passed
    assert "✅ Exercise 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (count_children_only, "model.modules() yields"),
        (count_swapped, "order is swapped"),
        (count_by_switching, "changed the modes"),
        (lambda model: [1, 2, 3], "tuple of two ints"),
        (lambda model: (1.0, 2.0), "tuple of two ints"),
        (42, "expected a function"),
    ],
)
def test_count_modes_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb01.check_exercise_1(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message
    assert "❌ Exercise 1" in out and "Hint:" in out
    assert "Traceback" not in out


def test_count_modes_crash_is_reported_without_traceback(capsys):
    def crashes(model):
        raise KeyError("oops")

    result = nb01.check_exercise_1(crashes)
    assert not result.passed
    assert "your code raised KeyError" in result.message
    assert "Traceback" not in capsys.readouterr().out


# ---------------------------------------------------------------------------
# Exercise 2: predict
# ---------------------------------------------------------------------------


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    flags = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            return model(x)
    finally:
        for m, flag in flags.items():
            m.training = flag


def predict_with_helpers(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with eval_mode(model), torch.inference_mode():
        return model(x)


def predict_dropout_on(model, x):
    with torch.no_grad():
        return model(x)


def predict_no_restore(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def predict_train_at_end(model, x):
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train()
    return out


def predict_restores_top_flag(model, x):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train(was_training)
    return out


def predict_detach(model, x):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    out = model(x).detach()
    for m, flag in flags.items():
        m.training = flag
    return out


def predict_with_grad(model, x):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    out = model(x)
    for m, flag in flags.items():
        m.training = flag
    return out


def predict_grad_switch(model, x):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    torch.set_grad_enabled(False)
    out = model(x)
    for m, flag in flags.items():
        m.training = flag
    return out


def predict_no_finally(model, x):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    with torch.no_grad():
        out = model(x)
    for m, flag in flags.items():
        m.training = flag
    return out


def predict_only_dropout_off(model, x):
    """Switches off dropout but leaves BatchNorm in train mode (batch statistics)."""
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    flags = [m.training for m in dropouts]
    try:
        for m in dropouts:
            m.eval()
        with torch.no_grad():
            return model(x)
    finally:
        for m, flag in zip(dropouts, flags, strict=True):
            m.training = flag


@pytest.mark.parametrize("solution", [predict, predict_with_helpers])
def test_predict_correct_passes(solution, capsys):
    assert nb01.check_exercise_2(solution).passed
    assert "✅ Exercise 2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (predict_dropout_on, "dropout was still active"),
        (predict_only_dropout_off, "not what the model gives in eval mode"),
        (predict_no_restore, "a model in train mode, predict changed the modes"),
        (predict_train_at_end, "a model in eval mode, predict changed the modes"),
        (predict_restores_top_flag, "frozen-backbone model"),
        (predict_detach, "instead of .detach()"),
        (predict_with_grad, "requires_grad=True"),
        (predict_grad_switch, "gradient tracking is switched off"),
        (predict_no_finally, "finally"),
        (lambda model, x: model(x).tolist(), "return the model's output tensor"),
    ],
)
def test_predict_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb01.check_exercise_2(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message
    assert "Hint:" in out and "Traceback" not in out
    assert torch.is_grad_enabled(), "the checker must switch gradient tracking back on"


def test_mixed_modes_named_in_the_message():
    result = nb01.check_exercise_2(predict_restores_top_flag)
    assert "backbone (was eval, now train)" in result.message


# ---------------------------------------------------------------------------
# Exercise 3: flip_rate
# ---------------------------------------------------------------------------


def flip_rate(model: nn.Module, x: torch.Tensor, n_passes: int = 100) -> float:
    flags = {m: m.training for m in model.modules()}
    try:
        with torch.no_grad():
            reference = model.eval()(x).argmax(dim=1)
            model.train()
            flips = sum((model(x).argmax(dim=1) != reference).sum().item() for _ in range(n_passes))
        return flips / (n_passes * len(x))
    finally:
        for m, flag in flags.items():
            m.training = flag


def flip_rate_never_trains(model, x, n_passes=100):
    with eval_mode(model), torch.no_grad():
        reference = model(x).argmax(dim=1)
        flips = sum((model(x).argmax(dim=1) != reference).sum().item() for _ in range(n_passes))
    return flips / (n_passes * len(x))


def flip_rate_train_reference(model, x, n_passes=100):
    flags = {m: m.training for m in model.modules()}
    with torch.no_grad():
        model.train()
        reference = model(x).argmax(dim=1)
        flips = sum((model(x).argmax(dim=1) != reference).sum().item() for _ in range(n_passes))
    for m, flag in flags.items():
        m.training = flag
    return flips / (n_passes * len(x))


def flip_rate_counts(model, x, n_passes=100):
    """Forgets to divide: returns a count, not a fraction."""
    return flip_rate(model, x, n_passes) * n_passes * len(x)


def flip_rate_leaves_train(model, x, n_passes=100):
    with torch.no_grad():
        reference = model.eval()(x).argmax(dim=1)
        model.train()
        flips = sum((model(x).argmax(dim=1) != reference).sum().item() for _ in range(n_passes))
    return flips / (n_passes * len(x))


def test_flip_rate_correct_passes(capsys):
    assert nb01.check_exercise_3(flip_rate).passed
    assert "✅ Exercise 3" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (flip_rate_never_trains, "run in train mode"),
        (flip_rate_train_reference, "ONE pass in eval mode"),
        (flip_rate_counts, "between 0 and 1"),
        (flip_rate_leaves_train, "a model in eval mode, flip_rate changed the modes"),
    ],
)
def test_flip_rate_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb01.check_exercise_3(wrong)
    assert not result.passed
    assert says in result.message
    assert "Traceback" not in capsys.readouterr().out


def test_checkers_leave_the_callers_random_numbers_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    nb01.check_exercise_2(predict)
    nb01.check_exercise_3(flip_rate)
    assert torch.equal(torch.rand(3), expected)
