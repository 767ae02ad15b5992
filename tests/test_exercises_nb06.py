"""The notebook 06 checkers accept correct answers and explain typical mistakes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from course_utils.exercises import nb06
from course_utils.models import make_mlp

# ---------------------------------------------------------------------------
# Exercise 1: a moons model
# ---------------------------------------------------------------------------


def good_model() -> nn.Module:
    return make_mlp(hidden=(32, 32))


def test_a_relu_network_passes(capsys):
    result = nb06.check_exercise_1(good_model, lr=0.02, epochs=100)
    assert result.passed
    assert "✅ Exercise 1" in capsys.readouterr().out


def test_passing_does_not_touch_the_notebooks_random_numbers():
    torch.manual_seed(5)
    expected = torch.rand(4)
    torch.manual_seed(5)
    nb06.check_exercise_1(good_model, lr=0.02, epochs=100)
    assert torch.equal(torch.rand(4), expected)


@pytest.mark.parametrize(
    ("build", "kwargs", "says"),
    [
        (lambda: make_mlp(hidden=()), {"lr": 0.05}, "straight line"),
        (lambda: make_mlp(hidden=(32, 32), activation="none"), {"lr": 0.05}, "straight line"),
        (lambda: make_mlp(hidden=(4,)), {"lr": 0.01, "epochs": 20}, "below 90%"),
        (lambda: make_mlp(hidden=(32, 32), out_features=2), {}, "one logit per point"),
        (lambda: make_mlp(in_features=3), {}, "your code raised RuntimeError"),
        (lambda: "model", {}, "must return an nn.Module"),
        (good_model, {"epochs": 500}, "epochs must be an int from 1 to 100"),
        (good_model, {"lr": 0}, "lr must be a number"),
        (good_model(), {}, "pass the function that builds it"),
        ("make_mlp", {}, "expected a function"),
    ],
    ids=["linear", "no activation", "too small", "two outputs", "three inputs", "not a module",
         "too many epochs", "zero lr", "a model, not a function", "a string"],
)
def test_mistakes_fail_with_a_reason(build, kwargs, says, capsys):
    result = nb06.check_exercise_1(build, **kwargs)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message
    assert "❌ Exercise 1" in out and "Hint:" in out
    assert "Traceback" not in out


def test_the_hidden_moons_are_noisier_and_new():
    """The exercise promises a hidden, noisier data set: check that the checker keeps it."""
    from course_utils.data import make_dataset

    assert nb06._MOONS["noise"] > nb06.NOTEBOOK_MOONS_NOISE
    hidden = make_dataset("moons", **nb06._MOONS)
    notebook = make_dataset("moons", noise=nb06.NOTEBOOK_MOONS_NOISE)
    assert hidden.X_test.shape[0] == 400
    assert not any(torch.isclose(hidden.X_test[:, None], notebook.X_test[None]).all(-1).any(1))


def test_the_linear_model_misses_the_target_clearly():
    """A straight line must fail by a clear margin, and the taught model pass by one."""
    linear = nb06.check_exercise_1(lambda: make_mlp(hidden=()), lr=0.05)
    assert not linear.passed and "straight line" in linear.message
    acc = float(linear.message.split("epochs is ")[1].split("%")[0]) / 100
    assert acc < nb06.TARGET_ACCURACY - 0.02


def test_nonlinear_model_that_falls_short_gets_no_linear_remark():
    result = nb06.check_exercise_1(lambda: make_mlp(hidden=(4,)), lr=0.01, epochs=20)
    assert not result.passed and "straight line" not in result.message


# ---------------------------------------------------------------------------
# Exercise 2: reading boundaries
# ---------------------------------------------------------------------------

RIGHT = {"A": "train mode", "B": "linear", "C": "non-linear", "D": "linear"}


def test_right_answers_pass(capsys):
    assert nb06.check_exercise_2(RIGHT).passed
    assert "✅ Exercise 2" in capsys.readouterr().out


def test_case_and_spaces_do_not_matter():
    sloppy = {" a": "Train Mode ", "b": "LINEAR", "C": "non-linear", "D": " linear"}
    assert nb06.check_exercise_2(sloppy).passed


@pytest.mark.parametrize(
    ("answers", "says"),
    [
        ({**RIGHT, "B": "non-linear"}, "no activation between them"),
        ({**RIGHT, "A": "non-linear"}, "random dropout mask"),
        ({**RIGHT, "C": "linear"}, "curved"),
        ({k: v for k, v in RIGHT.items() if k != "D"}, "missing: D"),
        ({**RIGHT, "E": "linear"}, "unexpected keys: E"),
        ({**RIGHT, "A": "dropout"}, "must be one of"),
        (["train mode", "linear", "non-linear", "linear"], "must be a dict"),
    ],
    ids=["deep linear is linear", "speckles", "curve", "missing", "extra", "unknown kind", "list"],
)
def test_wrong_answers_fail_with_a_reason(answers, says, capsys):
    result = nb06.check_exercise_2(answers)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message
    assert "Hint:" in out


def test_the_figure_shows_four_labelled_panels():
    fig = nb06.exercise_2_figure()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["panel A", "panel B", "panel C", "panel D"]
    plt.close(fig)
