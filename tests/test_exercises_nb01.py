"""The notebook 01 checkers accept correct answers and reject each classic mistake with a reason."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from course_utils.exercises import nb01
from course_utils.modes import eval_mode

# ---------------------------------------------------------------------------
# Exercise 1.1: count_modes
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


def count_duplicates(model: nn.Module) -> tuple[int, int]:
    modules = [m for _, m in model.named_modules(remove_duplicate=False)]
    n_train = sum(m.training for m in modules)
    return n_train, len(modules) - n_train


def count_top_flag_only(model: nn.Module) -> tuple[int, int]:
    n = len(list(model.modules()))
    return (n, 0) if model.training else (0, n)


def test_count_modes_correct_passes(capsys):
    result = nb01.check_exercise_1(count_modes)
    assert result.passed
    assert "✅ Exercise 1.1" in capsys.readouterr().out


COUNT_MISTAKES = [
    (count_children_only, "distinct modules"),
    (count_swapped, "order is swapped"),
    (count_by_switching, "changed the modes"),
    (count_duplicates, "uses the same Linear layer twice"),
    (count_top_flag_only, "mixed-mode model"),
    (lambda model: [1, 2, 3], "tuple of two ints"),
    (lambda model: (1.0, 2.0), "tuple of two ints"),
    (lambda model: (4, 4), "you counted 8 modules"),
    (42, "expected a function"),
]


@pytest.mark.parametrize(("wrong", "says"), COUNT_MISTAKES)
def test_count_modes_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb01.check_exercise_1(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message
    assert "❌ Exercise 1.1" in out and "Hint:" in out
    assert "Traceback" not in out


def test_count_modes_crash_is_reported_without_traceback(capsys):
    def crashes(model):
        raise KeyError("oops")

    result = nb01.check_exercise_1(crashes)
    assert not result.passed
    assert "your code raised KeyError" in result.message
    assert "Traceback" not in capsys.readouterr().out


# ---------------------------------------------------------------------------
# Exercise 1.2: predict
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


def predict_on_a_copy(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return copy.deepcopy(model).eval()(x)


def predict_with_helpers(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with eval_mode(model), torch.inference_mode():
        return model(x)


def predict_colleague(model, x):  # the version shown in the notebook
    model.eval()
    out = model(x).detach()
    model.train()
    return out


def predict_dropout_on(model, x):
    with torch.no_grad():
        return model(x)


def predict_no_restore(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)


def predict_train_at_end(model, x):
    try:
        model.eval()
        with torch.no_grad():
            return model(x)
    finally:
        model.train()


def predict_restores_top_flag(model, x):
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            return model(x)
    finally:
        model.train(was_training)


def predict_detach(model, x):
    flags = {m: m.training for m in model.modules()}
    try:
        model.eval()
        return model(x).detach()
    finally:
        for m, flag in flags.items():
            m.training = flag


def predict_with_grad(model, x):
    flags = {m: m.training for m in model.modules()}
    try:
        model.eval()
        return model(x)
    finally:
        for m, flag in flags.items():
            m.training = flag


def predict_grad_switch(model, x):
    flags = {m: m.training for m in model.modules()}
    try:
        model.eval()
        torch.set_grad_enabled(False)
        return model(x)
    finally:
        for m, flag in flags.items():
            m.training = flag


def predict_forces_grad_on(model, x):  # tracking off for the pass, then forced on: wrong inside a caller's no_grad
    flags = {m: m.training for m in model.modules()}
    model.eval()
    torch.set_grad_enabled(False)
    try:
        return model(x)
    finally:
        torch.set_grad_enabled(True)
        for m, flag in flags.items():
            m.training = flag


def predict_no_finally(model, x):
    flags = {m: m.training for m in model.modules()}
    model.eval()
    with torch.no_grad():
        out = model(x)
    for m, flag in flags.items():
        m.training = flag
    return out


def predict_swallows_errors(model, x):
    flags = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            return model(x)
    except Exception:  # noqa: BLE001 - the mistake under test
        return None
    finally:
        for m, flag in flags.items():
            m.training = flag


def predict_extra_train_pass(model, x):
    """Warms up with a train-mode pass first: BatchNorm's running statistics move."""
    flags = {m: m.training for m in model.modules()}
    try:
        with torch.no_grad():
            model.train()(x)
            return model.eval()(x)
    finally:
        for m, flag in flags.items():
            m.training = flag


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


@pytest.mark.parametrize("solution", [predict, predict_on_a_copy])
def test_predict_correct_passes(solution, capsys):
    assert nb01.check_exercise_2(solution).passed
    assert "✅ Exercise 1.2" in capsys.readouterr().out


PREDICT_MISTAKES = [
    (predict_forces_grad_on, "called inside a block where the caller had switched gradient tracking off, predict switched it on"),
    (predict_with_helpers, "uses the course helper eval_mode"),
    (predict_colleague, "autograd saved"),
    (predict_dropout_on, "running statistics"),
    (predict_extra_train_pass, "running statistics"),
    (predict_only_dropout_off, "running statistics"),
    (predict_no_restore, "a model in train mode, predict changed the modes"),
    (predict_train_at_end, "a model in eval mode, predict changed the modes"),
    (predict_restores_top_flag, "frozen-backbone model"),
    (predict_detach, "detached afterwards"),
    (predict_with_grad, "requires_grad=True"),
    (predict_grad_switch, "gradient tracking is switched off"),
    (predict_no_finally, "were not restored"),
    (predict_swallows_errors, "predict returned normally"),
    (lambda model, x: model(x).tolist(), "expected the model's output tensor"),
]


@pytest.mark.parametrize(("wrong", "says"), PREDICT_MISTAKES)
def test_predict_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb01.check_exercise_2(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message
    assert "Hint:" in out and "Traceback" not in out
    assert torch.is_grad_enabled(), "the checker must switch gradient tracking back on"


def test_predict_dropout_message_names_dropout():
    """With BatchNorm's statistics unchanged, different outputs can only come from dropout."""

    def dropout_on_bn_eval(model, x):
        flags = {m: m.training for m in model.modules()}
        try:
            for m in model.modules():
                if isinstance(m, nn.BatchNorm1d):
                    m.eval()
            with torch.no_grad():
                return model(x)
        finally:
            for m, flag in flags.items():
                m.training = flag

    result = nb01.check_exercise_2(dropout_on_bn_eval)
    assert not result.passed and "a dropout layer was still in train mode" in result.message


def test_mixed_modes_named_in_the_message():
    result = nb01.check_exercise_2(predict_restores_top_flag)
    assert "backbone (was eval, now train)" in result.message


# ---------------------------------------------------------------------------
# Exercise 1.3: flip_rate
# ---------------------------------------------------------------------------


def flip_rate(model: nn.Module, x: torch.Tensor, n_passes: int = 100) -> float:
    if len(x) == 0:
        return 0.0
    probe = copy.deepcopy(model)
    with torch.no_grad():
        reference = probe.eval()(x).argmax(dim=1)
        probe.train()
        flips = sum(int((probe(x).argmax(dim=1) != reference).sum()) for _ in range(n_passes))
    return flips / (n_passes * len(x))


def flip_rate_restoring(model: nn.Module, x: torch.Tensor, n_passes: int = 100) -> float:
    """Works on the model itself, saving and restoring flags and BatchNorm buffers in finally."""
    if len(x) == 0:
        return 0.0
    flags = {m: m.training for m in model.modules()}
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    try:
        with torch.no_grad():
            reference = model.eval()(x).argmax(dim=1)
            model.train()
            flips = sum(int((model(x).argmax(dim=1) != reference).sum()) for _ in range(n_passes))
        return flips / (n_passes * len(x))
    finally:
        for m, flag in flags.items():
            m.training = flag
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])


def flip_rate_notebook(model, x, n_passes=100):
    """Right except that it works on the model itself: BatchNorm statistics move."""
    if len(x) == 0:
        return 0.0
    flags = {m: m.training for m in model.modules()}
    try:
        with torch.no_grad():
            reference = model.eval()(x).argmax(dim=1)
            model.train()
            flips = sum(int((model(x).argmax(dim=1) != reference).sum()) for _ in range(n_passes))
        return flips / (n_passes * len(x))
    finally:
        for m, flag in flags.items():
            m.training = flag


def flip_rate_no_finally(model, x, n_passes=100):
    if len(x) == 0:
        return 0.0
    flags = {m: m.training for m in model.modules()}
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    with torch.no_grad():
        reference = model.eval()(x).argmax(dim=1)
        model.train()
        flips = sum(int((model(x).argmax(dim=1) != reference).sum()) for _ in range(n_passes))
    for m, flag in flags.items():
        m.training = flag
    with torch.no_grad():
        for name, b in model.named_buffers():
            b.copy_(buffers[name])
    return flips / (n_passes * len(x))


def flip_rate_swallows(model, x, n_passes=100):
    try:
        return flip_rate(model, x, n_passes)
    except ValueError:
        return 0.0


def flip_rate_no_grad_missing(model, x, n_passes=100):
    if len(x) == 0:
        return 0.0
    probe = copy.deepcopy(model)
    reference = probe.eval()(x).argmax(dim=1)
    probe.train()
    flips = sum(int((probe(x).argmax(dim=1) != reference).sum()) for _ in range(n_passes))
    return flips / (n_passes * len(x))


def flip_rate_tensor(model, x, n_passes=100):
    if len(x) == 0:
        return torch.tensor(0.0)
    probe = copy.deepcopy(model)
    with torch.no_grad():
        reference = probe.eval()(x).argmax(dim=1)
        probe.train()
        flips = sum((probe(x).argmax(dim=1) != reference).sum() for _ in range(n_passes))
    return flips / (n_passes * len(x))


def flip_rate_empty_crash(model, x, n_passes=100):
    probe = copy.deepcopy(model)
    with torch.no_grad():
        reference = probe.eval()(x).argmax(dim=1)
        probe.train()
        flips = sum(int((probe(x).argmax(dim=1) != reference).sum()) for _ in range(n_passes))
    return flips / (n_passes * len(x))


def flip_rate_hard_coded(model, x, n_passes=100):
    return 0.25 if any(isinstance(m, nn.Dropout) for m in model.modules()) else 0.0


def flip_rate_never_trains(model, x, n_passes=100):
    with eval_mode(model), torch.no_grad():
        reference = model(x).argmax(dim=1)
        flips = sum((model(x).argmax(dim=1) != reference).sum().item() for _ in range(n_passes))
    return flips / (n_passes * len(x))


def flip_rate_train_reference(model, x, n_passes=100):
    probe = copy.deepcopy(model)
    with torch.no_grad():
        probe.train()
        reference = probe(x).argmax(dim=1)
        flips = sum((probe(x).argmax(dim=1) != reference).sum().item() for _ in range(n_passes))
    return flips / (n_passes * len(x))


def flip_rate_one_pass_too_many(model, x, n_passes=100):  # range(n_passes + 1), divided by n_passes + 1
    return flip_rate(model, x, n_passes + 1)


def flip_rate_one_pass_too_few(model, x, n_passes=100):  # range(1, n_passes), divided by n_passes - 1
    return flip_rate(model, x, n_passes - 1)


def flip_rate_wrong_denominator(model, x, n_passes=100):  # n_passes passes, divided by (n_passes + 1) * len(x)
    return flip_rate(model, x, n_passes) * n_passes / (n_passes + 1)


def flip_rate_counts(model, x, n_passes=100):
    """Forgets to divide: returns a count, not a fraction."""
    return flip_rate(model, x, n_passes) * n_passes * len(x)


def flip_rate_leaves_train(model, x, n_passes=100):
    if len(x) == 0:
        return 0.0
    with torch.no_grad():
        reference = model.eval()(x).argmax(dim=1)
        model.train()
        flips = sum((model(x).argmax(dim=1) != reference).sum().item() for _ in range(n_passes))
    return flips / (n_passes * len(x))


def flip_rate_forces_eval(model, x, n_passes=100):
    if len(x) == 0:
        return 0.0
    try:
        with torch.no_grad():
            reference = model.eval()(x).argmax(dim=1)
            model.train()
            flips = sum((model(x).argmax(dim=1) != reference).sum().item() for _ in range(n_passes))
        return flips / (n_passes * len(x))
    finally:
        model.eval()


@pytest.mark.parametrize("solution", [flip_rate, flip_rate_restoring])
def test_flip_rate_correct_passes(solution, capsys):
    assert nb01.check_exercise_3(solution).passed
    assert "✅ Exercise 1.3" in capsys.readouterr().out


def flip_rate_reference_in_given_mode(model: nn.Module, x: torch.Tensor, n_passes: int = 100) -> float:
    """Takes the reference in whatever mode the model arrived in (no eval() first)."""
    if len(x) == 0:
        return 0.0
    probe = copy.deepcopy(model)
    with torch.no_grad():
        reference = probe(x).argmax(dim=1)
        probe.train()
        flips = sum(int((probe(x).argmax(dim=1) != reference).sum()) for _ in range(n_passes))
    return flips / (n_passes * len(x))


FLIP_MISTAKES = [
    (flip_rate_never_trains, "did not run in train mode"),
    (flip_rate_reference_in_given_mode, "handed to you in train mode"),
    (flip_rate_train_reference, "differ from its eval-mode labels"),
    (flip_rate_counts, "between 0 and 1"),
    (flip_rate_one_pass_too_many, "with n_passes=4, on a model whose labels flip on every other train-mode pass, the rate is exactly 0.5000: you ran 5"),
    (flip_rate_one_pass_too_few, "the rate is exactly 0.5000: you ran 3"),
    (flip_rate_wrong_denominator, "the rate is exactly 0.5000: you ran 4 train-mode pass(es) and returned 0.4000"),
    (flip_rate_hard_coded, "in 0.16 +/- 0.03"),
    (flip_rate_tensor, "expected a Python float"),
    (flip_rate_empty_crash, "empty batch"),
    (flip_rate_no_grad_missing, "autograd saved"),
    (flip_rate_leaves_train, "a model in eval mode, flip_rate changed the modes"),
    (flip_rate_forces_eval, "a model in train mode, flip_rate changed the modes"),
    (flip_rate_notebook, "rewrote BatchNorm's running statistics"),
    (flip_rate_no_finally, "were not restored"),
    (flip_rate_swallows, "returned normally"),
]


@pytest.mark.parametrize(("wrong", "says"), FLIP_MISTAKES)
def test_flip_rate_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb01.check_exercise_3(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message, result.message
    assert "Traceback" not in out


def test_failure_messages_and_hints_show_no_code(capsys):
    """Messages say what happened, not the code to write."""
    for checker, mistakes in ((nb01.check_exercise_1, COUNT_MISTAKES), (nb01.check_exercise_2, PREDICT_MISTAKES),
                              (nb01.check_exercise_3, FLIP_MISTAKES)):
        for wrong, _ in mistakes:
            message = checker(wrong).message
            for code in ("torch.no_grad()", "modules()", "finally:", "deepcopy", "argmax(", ".item()", "m.training"):
                assert code not in message, (code, message)
    capsys.readouterr()


def test_checkers_leave_the_callers_random_numbers_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    nb01.check_exercise_2(predict)
    nb01.check_exercise_3(flip_rate)
    assert torch.equal(torch.rand(3), expected)
