"""The notebook 02 checkers accept correct answers and reject each classic mistake with a reason."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import nb02
from course_utils.modes import mode_report


def assert_fails(result, says: str, exercise: str, capsys) -> None:
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message, result.message
    assert f"❌ Exercise {exercise}" in out and "Hint:" in out
    assert "Traceback" not in out
    for code in ("torch.", "copy.deepcopy", "self.training", "x * ", "/ (1 - p)", "var(", "mean("):
        assert code not in result.message.split("Hint:")[0].split("failed (")[-1].split("): ", 1)[-1], code


# ---------------------------------------------------------------------------
# Exercise 2.1: channel_dropout
# ---------------------------------------------------------------------------


def channel_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    keep = torch.rand(x.shape[0], x.shape[1], *[1] * (x.dim() - 2), device=x.device) >= p
    return x * keep / (1 - p)


def cd_nan_at_one(x, p, training):
    if not training:
        return x
    keep = torch.rand(x.shape[0], x.shape[1], *[1] * (x.dim() - 2)) >= p
    return x * keep / (1 - p)


def cd_per_value(x, p, training):
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    return x * (torch.rand_like(x) >= p) / (1 - p)


def cd_per_channel_only(x, p, training):
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    keep = torch.rand(1, x.shape[1], *[1] * (x.dim() - 2)) >= p
    return x * keep / (1 - p)


def cd_images_only(x, p, training):
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    keep = torch.rand(x.shape[0], x.shape[1], 1, 1) >= p
    return x * keep / (1 - p)


def cd_no_scale(x, p, training):
    if not training:
        return x
    return x * (torch.rand(x.shape[0], x.shape[1], *[1] * (x.dim() - 2)) >= p)


def cd_keep_probability(x, p, training):
    return channel_dropout(x, 1 - p, training) if training and 0 < p < 1 else channel_dropout(x, p, training)


def cd_in_place(x, p, training):
    if not training or p == 0:
        return x
    if p == 1:
        return x.zero_()
    keep = torch.rand(x.shape[0], x.shape[1], *[1] * (x.dim() - 2)) >= p
    x.mul_(keep).div_(1 - p)
    return x


def cd_fixed_mask(x, p, training):
    generator = torch.Generator().manual_seed(0)
    if not training or p == 0:
        return x
    if p == 1:
        return torch.zeros_like(x)
    keep = torch.rand(x.shape[0], x.shape[1], *[1] * (x.dim() - 2), generator=generator) >= p
    return x * keep / (1 - p)


def cd_functional(x, p, training):
    return F.dropout2d(x, p, training) if x.dim() == 4 else F.dropout1d(x, p, training)


def cd_always_on(x, p, training):
    return channel_dropout(x, p, True)


def test_channel_dropout_correct_passes(capsys):
    assert nb02.check_exercise_1(channel_dropout).passed
    assert "✅ Exercise 2.1" in capsys.readouterr().out


CD_MISTAKES = [
    (cd_nan_at_one, "contains nan"),
    (cd_per_value, "partly zeroed"),
    (cd_per_channel_only, "every sample lost the same channels"),
    (cd_images_only, "your code raised"),
    (cd_no_scale, "still 3.0"),
    (cd_keep_probability, "probability of dropping"),
    (cd_in_place, "changed in place"),
    (cd_fixed_mask, "same mask"),
    (cd_functional, "calls PyTorch's dropout1d"),
    (cd_always_on, "training=False"),
    (lambda x, p, training: x.tolist(), "should be a tensor"),
]


@pytest.mark.parametrize(("wrong", "says"), CD_MISTAKES)
def test_channel_dropout_mistakes_fail_with_a_reason(wrong, says, capsys):
    assert_fails(nb02.check_exercise_1(wrong), says, "2.1", capsys)


# ---------------------------------------------------------------------------
# Exercise 2.2: update_running_stats
# ---------------------------------------------------------------------------


def update_running_stats(running_mean, running_var, batch, momentum):
    values = batch.transpose(0, 1).reshape(batch.shape[1], -1)  # every value of a channel in one row
    new_mean = (1 - momentum) * running_mean + momentum * values.mean(dim=1)
    new_var = (1 - momentum) * running_var + momentum * values.var(dim=1)
    return new_mean, new_var


def urs_2d_only(running_mean, running_var, batch, momentum):
    return ((1 - momentum) * running_mean + momentum * batch.mean(0),
            (1 - momentum) * running_var + momentum * batch.var(0))


def urs_biased(running_mean, running_var, batch, momentum):
    values = batch.transpose(0, 1).reshape(batch.shape[1], -1)
    return ((1 - momentum) * running_mean + momentum * values.mean(1),
            (1 - momentum) * running_var + momentum * values.var(1, unbiased=False))


def urs_swapped(running_mean, running_var, batch, momentum):
    values = batch.transpose(0, 1).reshape(batch.shape[1], -1)
    return (momentum * running_mean + (1 - momentum) * values.mean(1),
            momentum * running_var + (1 - momentum) * values.var(1))


def urs_per_sample_var(running_mean, running_var, batch, momentum):
    values = batch.transpose(0, 1).reshape(batch.shape[1], -1)
    var = batch.flatten(2).var(2).mean(0) if batch.dim() > 2 else batch.var(0)
    return (1 - momentum) * running_mean + momentum * values.mean(1), (1 - momentum) * running_var + momentum * var


def urs_sample_count(running_mean, running_var, batch, momentum):
    """Divides by N - 1 (samples) instead of the number of values minus one."""
    values = batch.transpose(0, 1).reshape(batch.shape[1], -1)
    n = batch.shape[0]
    var = values.var(1, unbiased=False) * values.shape[1] / max(n - 1, 1)
    return (1 - momentum) * running_mean + momentum * values.mean(1), (1 - momentum) * running_var + momentum * var


def urs_in_place(running_mean, running_var, batch, momentum):
    values = batch.transpose(0, 1).reshape(batch.shape[1], -1)
    running_mean.mul_(1 - momentum).add_(momentum * values.mean(1))
    running_var.mul_(1 - momentum).add_(momentum * values.var(1))
    return running_mean, running_var


def urs_ignores_momentum(running_mean, running_var, batch, momentum):
    return update_running_stats(running_mean, running_var, batch, 0.1)


def test_update_running_stats_correct_passes(capsys):
    assert nb02.check_exercise_2(update_running_stats).passed
    assert "✅ Exercise 2.2" in capsys.readouterr().out


URS_MISTAKES = [
    (urs_2d_only, "your code raised RuntimeError"),
    (urs_biased, "biased variance"),
    (urs_swapped, "OLD value"),
    (urs_per_sample_var, "averages each sample's own variance"),
    (urs_sample_count, "running variance should be"),
    (urs_in_place, "changed in place"),
    (urs_ignores_momentum, "momentum 0.3 the running mean should be"),
    (lambda m, v, b, mom: m, "expected a pair"),
]


@pytest.mark.parametrize(("wrong", "says"), URS_MISTAKES)
def test_update_running_stats_mistakes_fail_with_a_reason(wrong, says, capsys):
    assert_fails(nb02.check_exercise_2(wrong), says, "2.2", capsys)


# ---------------------------------------------------------------------------
# Exercise 2.3: GaussianDropout
# ---------------------------------------------------------------------------


class GaussianDropout(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        return x * (1 + (self.p / (1 - self.p)) ** 0.5 * torch.randn_like(x))


class GaussianDropoutHelper(GaussianDropout):
    """Correct, but reads the flag in a helper method (mode_report cannot see it)."""

    def active(self):
        return self.training and self.p > 0

    def forward(self, x):
        if self.active():
            return x * (1 + (self.p / (1 - self.p)) ** 0.5 * torch.randn_like(x))
        return x


class GDIgnoresP(GaussianDropout):
    def forward(self, x):
        return x * (1 + torch.randn_like(x)) if self.training else x


class GDWrongScale(GaussianDropout):
    def forward(self, x):
        return x * (1 + self.p * torch.randn_like(x)) if self.training else x


class GDAdditive(GaussianDropout):
    def forward(self, x):
        return x + (self.p / (1 - self.p)) ** 0.5 * torch.randn_like(x) if self.training else x


class GDNoMean(GaussianDropout):
    def forward(self, x):
        return x * (self.p / (1 - self.p)) ** 0.5 * torch.randn_like(x) if self.training else x


class GDOwnFlag(GaussianDropout):
    """Decides in __init__ and never looks at the mode again."""

    def __init__(self, p=0.5):
        super().__init__(p)
        self.on = True

    def forward(self, x):
        return x * (1 + (self.p / (1 - self.p)) ** 0.5 * torch.randn_like(x)) if self.on else x


class GDFunctionalAlways(GaussianDropout):
    def forward(self, x):
        return x * (1 + (self.p / (1 - self.p)) ** 0.5 * torch.randn_like(x))


class GDInPlace(GaussianDropout):
    def forward(self, x):
        if self.training and self.p > 0:
            x.mul_(1 + (self.p / (1 - self.p)) ** 0.5 * torch.randn_like(x))
        return x


class GDFixedNoise(GaussianDropout):
    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
        return x * (1 + (self.p / (1 - self.p)) ** 0.5 * noise)


class GDNanAtZero(GaussianDropout):
    def forward(self, x):
        if not self.training:
            return x
        return x * (1 + torch.randn_like(x) / ((1 - self.p) / self.p) ** 0.5)


@pytest.mark.parametrize("solution", [GaussianDropout, GaussianDropoutHelper])
def test_gaussian_dropout_correct_passes(solution, capsys):
    assert nb02.check_exercise_3(solution).passed
    assert "✅ Exercise 2.3" in capsys.readouterr().out


def test_mode_report_cannot_see_the_helper_but_the_checker_does_not_need_it():
    assert not mode_report(GaussianDropoutHelper())[""].depends_on_mode


GD_MISTAKES = [
    (GDIgnoresP, "p=0.2 the output divided by the input should have standard deviation"),
    (GDWrongScale, "standard deviation"),
    (GDAdditive, "added rather than multiplied"),
    (GDNoMean, "should average 1"),
    (GDOwnFlag, "eval mode the layer must return its input unchanged"),
    (GDFunctionalAlways, "eval mode the layer must return its input unchanged"),
    (GDInPlace, "changed in place"),
    (GDFixedNoise, "same noise"),
    (GDNanAtZero, "your code raised ZeroDivisionError"),
    (GaussianDropout(), "not an instance"),
]


@pytest.mark.parametrize(("wrong", "says"), GD_MISTAKES)
def test_gaussian_dropout_mistakes_fail_with_a_reason(wrong, says, capsys):
    assert_fails(nb02.check_exercise_3(wrong), says, "2.3", capsys)


# ---------------------------------------------------------------------------
# Exercise 2.4: changes_with_mode
# ---------------------------------------------------------------------------


def changes_with_mode(module: nn.Module, x: torch.Tensor) -> bool:
    outputs = []
    for training in (True, False):
        probe = copy.deepcopy(module).train(training)
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(0)
            outputs.append(probe(x))
    return not torch.allclose(outputs[0], outputs[1])


def cwm_naive(module, x):
    """The notebook's table: one train pass against one eval pass, random numbers not aligned."""
    with torch.no_grad():
        return not torch.allclose(copy.deepcopy(module).train()(x), copy.deepcopy(module).eval()(x))


def cwm_by_type(module, x):
    kinds = (nn.Dropout, nn.BatchNorm1d, nn.RReLU)
    return any(isinstance(m, kinds) and getattr(m, "p", 1) != 0 for m in module.modules())


def cwm_mode_report(module, x):
    return any(row.depends_on_mode for row in mode_report(module))


def cwm_on_the_module(module, x):
    flags = {m: m.training for m in module.modules()}
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(0)
            a = module.train()(x)
            torch.manual_seed(0)
            b = module.eval()(x)
        return not torch.allclose(a, b)
    finally:
        for m, flag in flags.items():
            m.training = flag


def cwm_forces_modes(module, x):
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        probe = copy.deepcopy(module)
        torch.manual_seed(0)
        a = probe.train()(x)
        torch.manual_seed(0)
        b = probe.eval()(x)
    module.eval()
    return not torch.allclose(a, b)


def cwm_reseeds_globally(module, x):  # the same random numbers for both passes, but no fork_rng
    outputs = []
    for training in (True, False):
        probe = copy.deepcopy(module).train(training)
        with torch.no_grad():
            torch.manual_seed(0)
            outputs.append(probe(x))
    return not torch.allclose(outputs[0], outputs[1])


def cwm_tensor(module, x):
    return torch.tensor(changes_with_mode(module, x))


def test_changes_with_mode_correct_passes(capsys):
    assert nb02.check_exercise_4(changes_with_mode).passed
    assert "✅ Exercise 2.4" in capsys.readouterr().out


CWM_MISTAKES = [
    (cwm_naive, "calls F.dropout without training="),
    (cwm_by_type, "track_running_stats=False"),
    (cwm_mode_report, "helper method reads the mode flag"),
    (cwm_on_the_module, "running statistics changed"),
    (cwm_forces_modes, "modes were changed"),
    (cwm_tensor, "Python bool"),
    (cwm_reseeds_globally, "the global random number generator is not where it was"),
]


@pytest.mark.parametrize(("wrong", "says"), CWM_MISTAKES)
def test_changes_with_mode_mistakes_fail_with_a_reason(wrong, says, capsys):
    assert_fails(nb02.check_exercise_4(wrong), says, "2.4", capsys)


def test_checkers_leave_the_global_rng_alone(capsys):
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    nb02.check_exercise_1(channel_dropout)
    nb02.check_exercise_3(GaussianDropout)
    nb02.check_exercise_4(changes_with_mode)
    assert torch.equal(torch.rand(3), expected)
    capsys.readouterr()
