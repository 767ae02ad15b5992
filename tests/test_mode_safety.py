"""Helpers that run a model give it back exactly as they found it, even when they fail.

A learner who calls ``plot_decision_boundary(model, ...)`` or ``evaluate(...)``
in the middle of training must find every submodule in the mode it was in
(mixed modes included, e.g. a frozen BatchNorm kept in eval mode inside a model
in train mode) and gradient tracking switched on or off as before. The same
holds when the helper raises halfway, here because the model's forward pass
fails on its Nth call. ``fit`` is the documented exception on success (it
leaves the model in eval mode, ready to predict); when it fails it restores the
modes too. Exercise checkers restore the grad switch whatever the learner's
code did to it, and the widgets leave the notebook's grad switch and random
numbers alone.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from torch import nn

from course_utils import training
from course_utils.exercises import all_checkers
from course_utils.modes import eval_mode, preserved_state, train_mode


class FailingForward(RuntimeError):
    """Raised by :class:`Probe` on purpose."""


class Probe(nn.Module):
    """Linear -> BatchNorm -> ReLU -> Dropout -> Linear that can fail on its Nth forward call.

    Records, for every call, the grad switch and the mode of every submodule.
    """

    def __init__(self, fail_on: int | None = None):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.body = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3))
            self.head = nn.Linear(8, 1)
        self.fail_on = fail_on
        self.calls: list[tuple[bool, tuple[bool, ...]]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((torch.is_grad_enabled(), modes_of(self)))
        if self.fail_on is not None and len(self.calls) == self.fail_on:
            raise FailingForward(f"forward call {len(self.calls)} fails on purpose")
        return self.head(self.body(x))


def modes_of(model: nn.Module) -> tuple[bool, ...]:
    return tuple(m.training for m in model.modules())


def set_modes(model: Probe, pattern: str) -> Probe:
    """all train / all eval / two kinds of mixed modes."""
    if pattern == "train":
        model.train()
    elif pattern == "eval":
        model.eval()
    elif pattern == "frozen-bn":  # train mode, but BatchNorm and head kept in eval mode
        model.train()
        model.body[1].eval()
        model.head.eval()
    elif pattern == "mc-dropout":  # eval mode, but Dropout left on
        model.eval()
        model.body[3].train()
    else:
        raise ValueError(pattern)
    return model


PATTERNS = ("train", "eval", "frozen-bn", "mc-dropout")


@pytest.fixture
def points() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(40, 2, generator=gen)
    return X, (X[:, :1] * X[:, 1:] > 0).float()


def _grad_context(enabled: bool):
    return torch.enable_grad() if enabled else torch.no_grad()


def _buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: b.clone() for name, b in model.named_buffers()}


def _same_buffers(model: nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(b, before[name]) for name, b in model.named_buffers())


# ---------------------------------------------------------------------------
# plot_decision_boundary (and the grid prediction underneath it)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("grad", [True, False], ids=["grad-on", "grad-off"])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_plot_decision_boundary_restores_modes_grad_and_buffers(points, pattern, grad, mode):
    import matplotlib.pyplot as plt

    from course_utils.plotting import plot_decision_boundary

    model = set_modes(Probe(), pattern)
    before, buffers = modes_of(model), _buffers(model)
    with _grad_context(grad):
        plot_decision_boundary(model, *points, grid_resolution=20, mode=mode)
        assert torch.is_grad_enabled() is grad
    plt.close("all")
    assert modes_of(model) == before
    assert _same_buffers(model, buffers), "BatchNorm running statistics changed"
    wanted = mode == "train"
    assert all(flags == (wanted,) * len(flags) for _, flags in model.calls), (
        f"the model was not run in {mode} mode throughout"
    )


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("fail_on", [1, 2], ids=["first-call", "second-call"])
def test_plot_decision_boundary_restores_everything_when_the_model_fails(points, pattern, fail_on):
    import matplotlib.pyplot as plt

    from course_utils.plotting import plot_decision_boundary

    model = set_modes(Probe(fail_on=fail_on), pattern)
    before, buffers = modes_of(model), _buffers(model)
    # In eval mode 260 x 260 grid points are more than one chunk, so the model is called twice;
    # in train mode everything goes through as one batch (BatchNorm's batch statistics).
    mode = "train" if fail_on == 1 else "eval"
    with pytest.raises((FailingForward, ValueError)):
        plot_decision_boundary(model, *points, grid_resolution=260, mode=mode)
    plt.close("all")
    assert len(model.calls) == fail_on
    assert modes_of(model) == before
    assert torch.is_grad_enabled()
    assert _same_buffers(model, buffers)


# ---------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("grad", [True, False], ids=["grad-on", "grad-off"])
def test_evaluate_changes_no_mode_and_restores_grad(points, grad):
    model = set_modes(Probe(), "eval")
    with _grad_context(grad):
        training.evaluate(model, *points, nn.BCEWithLogitsLoss(), batch_size=16)
        assert torch.is_grad_enabled() is grad
    assert modes_of(model) == modes_of(set_modes(Probe(), "eval"))
    assert all(not grad_on for grad_on, _ in model.calls), "evaluate built a graph"


@pytest.mark.parametrize("pattern", ["train", "frozen-bn", "mc-dropout"])
def test_evaluate_refuses_train_or_mixed_modes_without_touching_them(points, pattern):
    model = set_modes(Probe(), pattern)
    before = modes_of(model)
    with pytest.raises(ValueError, match="needs the model in eval mode"):
        training.evaluate(model, *points, nn.BCEWithLogitsLoss())
    assert modes_of(model) == before and not model.calls


@pytest.mark.parametrize("grad", [True, False], ids=["grad-on", "grad-off"])
def test_evaluate_restores_grad_when_the_model_fails_on_a_later_batch(points, grad):
    model = set_modes(Probe(fail_on=3), "eval")
    with _grad_context(grad):
        with pytest.raises((FailingForward, ValueError), match="fails on purpose"):
            training.evaluate(model, *points, nn.BCEWithLogitsLoss(), batch_size=8)
        assert torch.is_grad_enabled() is grad
    assert modes_of(model) == modes_of(set_modes(Probe(), "eval"))


# ---------------------------------------------------------------------------
# fit and train_one_epoch
# ---------------------------------------------------------------------------


def _keep_bn_eval(model: Probe) -> None:
    model.train()
    model.body[1].eval()


def _fit(model: Probe, points, **kwargs):
    X, y = points
    return training.fit(
        model, (X, y), (X, y), loss_fn=nn.BCEWithLogitsLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.05), epochs=3, **kwargs,
    )


def test_fit_trains_in_the_requested_mode_and_evaluates_in_eval_mode(points):
    model = set_modes(Probe(), "eval")
    _fit(model, points, set_train_mode=_keep_bn_eval)
    trained = modes_of(set_modes(Probe(), "train"))
    bn_eval = list(trained)
    bn_eval[[m for m in model.modules()].index(model.body[1])] = False
    all_eval = modes_of(set_modes(Probe(), "eval"))
    assert len(model.calls) == 6  # full batch: one training and one evaluation pass per epoch
    for epoch in range(3):
        (train_grad, train_flags), (eval_grad, eval_flags) = model.calls[2 * epoch : 2 * epoch + 2]
        assert train_grad and train_flags == tuple(bn_eval), f"epoch {epoch + 1}: eval mode leaked into training"
        assert not eval_grad and eval_flags == all_eval, f"epoch {epoch + 1}: evaluated outside eval mode"
    assert modes_of(model) == all_eval  # documented: fit leaves the model in eval mode
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("fail_on", [2, 3], ids=["in-evaluation", "in-second-epoch"])
def test_fit_restores_modes_and_grad_when_the_model_fails(points, pattern, fail_on):
    model = set_modes(Probe(fail_on=fail_on), pattern)
    before = modes_of(model)
    with pytest.raises((FailingForward, ValueError), match="fails on purpose"):
        _fit(model, points, set_train_mode=_keep_bn_eval)
    assert len(model.calls) == fail_on
    assert modes_of(model) == before
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("pattern", PATTERNS)
def test_fit_under_no_grad_refuses_and_changes_nothing(points, pattern):
    model = set_modes(Probe(), pattern)
    before = modes_of(model)
    with torch.no_grad(), pytest.raises(RuntimeError, match="outside torch.no_grad"):
        _fit(model, points)
    assert modes_of(model) == before and not model.calls
    assert torch.is_grad_enabled()


@pytest.mark.parametrize("pattern", PATTERNS)
def test_train_one_epoch_restores_modes_when_the_model_fails(points, pattern):
    model = set_modes(Probe(fail_on=2), pattern)
    before = modes_of(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with pytest.raises((FailingForward, ValueError), match="fails on purpose"):
        training.train_one_epoch(model, *points, nn.BCEWithLogitsLoss(), opt, batch_size=8)
    assert modes_of(model) == before


# ---------------------------------------------------------------------------
# eval_mode, train_mode, preserved_state
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("switch", [eval_mode, train_mode, preserved_state])
def test_mode_context_managers_restore_mixed_modes_even_on_error(pattern, switch, points):
    model = set_modes(Probe(fail_on=1), pattern)
    before = modes_of(model)
    with pytest.raises(FailingForward), switch(model):
        model.body[3].train(not model.body[3].training)  # the block changes a mode itself
        model(points[0])
    assert modes_of(model) == before


@pytest.mark.parametrize("grad", [True, False], ids=["grad-on", "grad-off"])
def test_preserved_state_restores_the_grad_switch_even_on_error(grad):
    model = Probe()
    with _grad_context(grad):
        with pytest.raises(KeyError), preserved_state(model):
            torch.set_grad_enabled(not grad)
            model.eval()
            raise KeyError("the block fails")
        assert torch.is_grad_enabled() is grad
    assert modes_of(model) == modes_of(Probe())


class Frozen(nn.Module):
    """A submodule whose train() keeps it in eval mode (the freezing recipe)."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(2)

    def train(self, mode: bool = True):
        return super().train(False)


def test_context_managers_restore_modules_that_override_train():
    model = nn.Sequential(Frozen(), nn.Dropout(0.5)).train()
    model[0].bn.train()  # someone set the flag directly
    before = modes_of(model)
    for switch in (eval_mode, train_mode, preserved_state):
        with switch(model):
            model.train()
        assert modes_of(model) == before


# ---------------------------------------------------------------------------
# Exercise checkers and widgets: the notebook's global state
# ---------------------------------------------------------------------------


def _checkers():
    return [pytest.param(fn, id=name) for name, fn in all_checkers()]


def _turns_grad_off_and_fails(*args, **kwargs):
    torch.set_grad_enabled(False)
    raise RuntimeError("the answer switched gradients off, then crashed")


@pytest.mark.parametrize("checker", _checkers())
def test_checkers_restore_the_grad_switch_whatever_the_answer_does(checker, capsys):
    assert torch.is_grad_enabled()
    result = checker(_turns_grad_off_and_fails)
    capsys.readouterr()
    assert not result
    assert torch.is_grad_enabled(), "the learner's notebook would be left with gradients off"


def _drive(widget) -> None:
    """Use every enabled control once, as clicks do."""
    import ipywidgets as w

    for control in widget.controls:
        if isinstance(control, w.Button):
            if not control.disabled:
                control.click()
        elif hasattr(control, "options"):
            values = [o[1] if isinstance(o, tuple) else o for o in control.options]
            control.value = values[(values.index(control.value) + 1) % len(values)]
        elif hasattr(control, "min"):
            control.value = control.max if control.value != control.max else control.min


@pytest.mark.parametrize("name", ["ModeExplorer", "BatchNormPanel", "ThresholdExplorer", "LiveBoundaryTrainer"])
def test_widgets_leave_the_grad_switch_and_random_numbers_alone(name):
    import course_utils.widgets as widgets

    args = ()
    if name == "ThresholdExplorer":
        args = (torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1]))
    torch.manual_seed(123)
    rng = torch.get_rng_state()
    widget = getattr(widgets, name)(*args)
    _drive(widget)
    assert torch.is_grad_enabled()
    assert torch.equal(torch.get_rng_state(), rng), f"{name} used the notebook's random numbers"
