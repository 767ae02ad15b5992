"""The notebook 02 checkers accept correct answers and explain typical mistakes."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import nb02


def assert_fails(result, says: str, exercise: str, capsys) -> None:
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message, result.message
    assert f"❌ Exercise {exercise}" in out and "Hint:" in out
    assert "Traceback" not in out


def test_checkers_leave_the_global_rng_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    nb02.check_exercise_1(inverted_dropout)
    nb02.check_exercise_4(changes_with_mode)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------------------
# Exercise 1: inverted_dropout
# ---------------------------------------------------------------------------


def inverted_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    if not training:
        return x
    keep = torch.rand_like(x) >= p
    return x * keep / (1 - p)


def test_inverted_dropout_correct_passes(capsys):
    assert nb02.check_exercise_1(inverted_dropout).passed
    assert "✅ Exercise 1" in capsys.readouterr().out


def test_functional_dropout_with_training_flag_passes():
    assert nb02.check_exercise_1(lambda x, p, training: F.dropout(x, p, training=training)).passed


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (lambda x, p, training: x * (torch.rand_like(x) >= p) if training else x, "divides them by (1 - p)"),
        (lambda x, p, training: x * (torch.rand_like(x) < p) / p if training else x, "not of keeping it"),
        (lambda x, p, training: F.dropout(x, p), "training=False the output must equal the input"),
        (lambda x, p, training: x * (torch.rand_like(x) >= p) / (1 - p), "training=False"),
        (lambda x, p, training: x.mul_(torch.rand_like(x) >= p).div_(1 - p) if training else x, "in place"),
        (lambda x, p, training: x.tolist(), "should be a tensor"),
        ("dropout", "expected a function"),
    ],
)
def test_inverted_dropout_mistakes_fail_with_a_reason(wrong, says, capsys):
    assert_fails(nb02.check_exercise_1(wrong), says, "1", capsys)


def test_a_fixed_mask_fails():
    mask = {}

    def fixed(x, p, training):
        if not training:
            return x
        key = (tuple(x.shape), p)
        if key not in mask:
            mask[key] = torch.rand_like(x) >= p
        return x * mask[key] / (1 - p)

    result = nb02.check_exercise_1(fixed)
    assert not result.passed and "new random mask" in result.message


# ---------------------------------------------------------------------------
# Exercise 2: update_running_stats
# ---------------------------------------------------------------------------


def update_running_stats(running_mean, running_var, batch, momentum):
    new_mean = (1 - momentum) * running_mean + momentum * batch.mean(0)
    new_var = (1 - momentum) * running_var + momentum * batch.var(0)
    return new_mean, new_var


def test_update_running_stats_correct_passes(capsys):
    assert nb02.check_exercise_2(update_running_stats).passed
    assert "✅ Exercise 2" in capsys.readouterr().out


def biased(mean, var, batch, m):
    return (1 - m) * mean + m * batch.mean(0), (1 - m) * var + m * batch.var(0, unbiased=False)


def swapped(mean, var, batch, m):
    return m * mean + (1 - m) * batch.mean(0), m * var + (1 - m) * batch.var(0)


def in_place(mean, var, batch, m):
    mean.mul_(1 - m).add_(m * batch.mean(0))
    var.mul_(1 - m).add_(m * batch.var(0))
    return mean, var


def per_sample(mean, var, batch, m):  # statistics over the wrong dimension
    return (1 - m) * mean + m * batch.mean(1)[: mean.numel()], var


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (biased, "unbiased one"),
        (swapped, "weighs the OLD value"),
        (in_place, "changed in place"),
        (per_sample, "running mean should be"),
        (lambda mean, var, batch, m: mean, "return a pair"),
    ],
)
def test_update_running_stats_mistakes_fail_with_a_reason(wrong, says, capsys):
    assert_fails(nb02.check_exercise_2(wrong), says, "2", capsys)


# ---------------------------------------------------------------------------
# Exercise 3: GaussianNoise
# ---------------------------------------------------------------------------


class GaussianNoise(nn.Module):
    def __init__(self, std: float = 0.1):
        super().__init__()
        self.std = std

    def forward(self, x):
        return x + torch.randn_like(x) * self.std if self.training else x


class AlwaysNoisy(GaussianNoise):
    def forward(self, x):
        return x + torch.randn_like(x) * self.std


class OwnSwitch(nn.Module):
    """Keeps its own flag instead of reading self.training: model.eval() cannot reach it."""

    def __init__(self, std: float = 0.1):
        super().__init__()
        self.std, self.active = std, True

    def forward(self, x):
        return x + torch.randn_like(x) * self.std if self.active else x


class WrongStd(GaussianNoise):
    def forward(self, x):
        return x + torch.randn_like(x) * self.std**2 if self.training else x


class InPlace(GaussianNoise):
    def forward(self, x):
        return x.add_(torch.randn_like(x) * self.std) if self.training else x


def test_gaussian_noise_correct_passes(capsys):
    assert nb02.check_exercise_3(GaussianNoise).passed
    assert "✅ Exercise 3" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (AlwaysNoisy, "in eval mode the layer must return its input unchanged"),
        (OwnSwitch, "in eval mode the layer must return its input unchanged"),
        (WrongStd, "standard deviation 0.5"),
        (InPlace, "in place"),
        (GaussianNoise(0.5), "pass the class itself"),
    ],
)
def test_gaussian_noise_mistakes_fail_with_a_reason(wrong, says, capsys):
    assert_fails(nb02.check_exercise_3(wrong), says, "3", capsys)


# ---------------------------------------------------------------------------
# Exercise 4: changes_with_mode
# ---------------------------------------------------------------------------


def changes_with_mode(module: nn.Module, x: torch.Tensor) -> bool:
    with torch.no_grad():
        out_train = copy.deepcopy(module).train()(x)
        out_eval = copy.deepcopy(module).eval()(x)
    return not torch.allclose(out_train, out_eval)


def test_changes_with_mode_correct_passes(capsys):
    assert nb02.check_exercise_4(changes_with_mode).passed
    assert "✅ Exercise 4" in capsys.readouterr().out


def switches_in_place(module, x):  # runs the original: moves running stats, loses the modes
    out_train = module.train()(x)
    out_eval = module.eval()(x)
    return not torch.allclose(out_train, out_eval)


def restores_flag_only(module, x):  # puts the top-level flag back, but stats still move
    was = module.training
    result = switches_in_place(module, x)
    module.train(was)
    return result


def via_mode_report(module, x):  # the static verdict misses nothing here, but returns a tensor
    return torch.tensor(changes_with_mode(module, x))


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (switches_in_place, "running statistics changed"),
        (restores_flag_only, "running statistics changed"),
        (via_mode_report, "a Python bool"),
        (lambda module, x: True, "Linear(6, 3) does not change"),
        (lambda module, x: isinstance(module, nn.Dropout), "fresh BatchNorm1d(6) changes"),
    ],
)
def test_changes_with_mode_mistakes_fail_with_a_reason(wrong, says, capsys):
    assert_fails(nb02.check_exercise_4(wrong), says, "4", capsys)


def test_a_probe_that_loses_mixed_modes_fails():
    def keeps_stats_loses_modes(module, x):
        result = changes_with_mode(module, x)
        module.train()
        return result

    result = nb02.check_exercise_4(keeps_stats_loses_modes)
    assert not result.passed and "modes were changed" in result.message
