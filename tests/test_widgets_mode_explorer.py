"""ModeExplorer and BatchNormPanel: every control changes what a learner is told it changes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.widgets import BatchNormPanel, ModeExplorer


@pytest.fixture(autouse=True)
def one_thread():
    """The notebooks run on one thread (course_utils.setup); so do these tests."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def no_drawing(widget) -> None:
    """Skip rendering the PNG: for tests about numbers that step a widget many times."""
    widget.host.refresh = lambda: None


# ---------------------------------------------------------------------------
# ModeExplorer
# ---------------------------------------------------------------------------


def test_a_new_pass_in_train_mode_draws_a_new_mask():
    w = ModeExplorer(p=0.5)
    first = w.state["mask"]
    w.pass_button.click()
    second = w.state["mask"]
    assert set(np.unique(first)) == {0.0, 1.0}
    assert not np.array_equal(first, second)
    assert w.state["passes"] == 2


def test_the_mask_explains_the_output_in_train_mode():
    w = ModeExplorer(p=0.5)
    s = w.state
    assert s["scale"] == pytest.approx(2.0)
    np.testing.assert_allclose(s["output"], s["before_dropout"] * s["mask"] * 2.0, rtol=1e-6)


def test_eval_mode_keeps_every_unit_and_repeats_itself():
    w = ModeExplorer(p=0.5)
    w.mode_toggle.value = "eval"
    first = w.state
    w.pass_button.click()
    second = w.state
    assert first["mode"] == "eval" and not w.model.training
    assert np.all(second["mask"] == 1.0) and second["kept_fraction"] == 1.0 and second["scale"] == 1.0
    np.testing.assert_array_equal(second["output"], second["before_dropout"])
    np.testing.assert_array_equal(first["output"], second["output"])
    assert "identity" in w.summary.value and "mode: eval" in w.summary_text()


def test_batchnorm_outputs_differ_between_modes():
    w = ModeExplorer(p=0.0)  # no dropout: only BatchNorm can make the modes differ
    train_before = w.state["before_dropout"]
    w.mode_toggle.value = "eval"
    eval_before = w.state["before_dropout"]
    assert np.abs(train_before - eval_before).max() > 0.1


def test_running_stats_move_only_in_train_mode():
    w = ModeExplorer()
    start = w.state["running_mean"]
    w.pass_button.click()
    moved = w.state["running_mean"]
    assert not np.allclose(start, moved)
    # each train-mode pass moves running_mean 10% of the way to the batch mean
    np.testing.assert_allclose(moved, 0.9 * start + 0.1 * w.state["batch_mean"], rtol=1e-5, atol=1e-6)
    w.mode_toggle.value = "eval"
    frozen = w.state["running_mean"], w.state["running_var"]
    for _ in range(3):
        w.pass_button.click()
    np.testing.assert_array_equal(w.state["running_mean"], frozen[0])
    np.testing.assert_array_equal(w.state["running_var"], frozen[1])
    assert w.state["train_passes"] == 2 and w.state["passes"] == 6


def test_running_stats_converge_to_the_batch_statistics():
    w = ModeExplorer()
    no_drawing(w)
    for _ in range(80):
        w.pass_button.click()
    np.testing.assert_allclose(w.state["running_mean"], w.state["batch_mean"], atol=1e-3)
    np.testing.assert_allclose(w.state["running_var"], w.state["batch_var"], rtol=1e-3, atol=1e-3)


def test_reset_puts_the_running_stats_back_to_zero_and_one():
    w = ModeExplorer()
    w.pass_button.click()
    w.reset_button.click()
    np.testing.assert_array_equal(w.state["running_mean"], 0.0)
    np.testing.assert_array_equal(w.state["running_var"], 1.0)
    assert w.state["passes"] == 0
    assert "running_mean[0]=0.000" in w.summary_text()


@pytest.mark.parametrize(("p", "scale"), [(0.1, 1 / 0.9), (0.5, 2.0), (0.8, 5.0)])
def test_the_p_slider_sets_the_kept_fraction_and_the_scale(p, scale):
    w = ModeExplorer(p=0.5, n_samples=64, n_units=32)
    w.p_slider.value = p
    assert w.model.dropout.p == pytest.approx(p)
    assert w.state["scale"] == pytest.approx(scale, rel=1e-5)
    assert w.state["kept_fraction"] == pytest.approx(1 - p, abs=0.06)
    assert f"scale {scale:.2f}" in w.summary_text()


def test_the_summary_changes_with_each_control():
    w = ModeExplorer()
    texts = [w.summary_text()]
    w.pass_button.click()
    texts.append(w.summary_text())
    w.p_slider.value = 0.2
    texts.append(w.summary_text())
    w.mode_toggle.value = "eval"
    texts.append(w.summary_text())
    assert len(set(texts)) == len(texts)
    assert "mode: train" in texts[0] and "mode: eval" in texts[-1]


def test_same_seed_same_pictures_and_the_global_rng_is_untouched():
    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    a, b = ModeExplorer(seed=7), ModeExplorer(seed=7)
    a.pass_button.click()
    b.pass_button.click()
    assert torch.equal(torch.rand(2), expected)
    np.testing.assert_array_equal(a.state["mask"], b.state["mask"])
    assert not np.array_equal(a.state["mask"], ModeExplorer(seed=8).state["mask"])


def test_the_figure_is_built_once_and_updated():
    w = ModeExplorer()
    assert w.host.draws == 0  # drawn when displayed, not when built
    axes, image = list(w.figure.axes), w._mask_image
    draws = w.host.draws
    w.pass_button.click()
    w.mode_toggle.value = "eval"
    assert w.figure.axes == axes and w._mask_image is image
    assert w.host.draws == draws + 2
    np.testing.assert_array_equal(image.get_array(), w.state["mask"])


def test_each_callback_redraws_the_picture():
    w = ModeExplorer()
    w.pass_button.click()
    train_png = bytes(w.host.widget.value)
    w.mode_toggle.value = "eval"
    eval_png = bytes(w.host.widget.value)
    assert train_png.startswith(b"\x89PNG") and eval_png.startswith(b"\x89PNG")
    assert train_png != eval_png
    panel = BatchNormPanel()
    panel.batch_size_slider.value = 2
    small = bytes(panel.host.widget.value)
    panel.batch_size_slider.value = 64
    assert small.startswith(b"\x89PNG") and bytes(panel.host.widget.value) != small


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"p": 1.0}, ValueError, "p must be below 1"),
        ({"p": -0.1}, ValueError, "p must be between"),
        ({"p": "0.5"}, TypeError, "p must be a number"),
        ({"mode": "test"}, ValueError, "mode must be one of"),
        ({"n_samples": 1}, ValueError, "n_samples must be between 2"),
        ({"momentum": 0.0}, ValueError, "momentum must be in (0, 1]"),
        ({"seed": -1}, ValueError, "seed must be a non-negative int"),
        ({"sample": 16}, ValueError, "sample must be between 0 and 15"),
    ],
)
def test_mode_explorer_rejects_bad_arguments(kwargs, error, says):
    with pytest.raises(error) as info:
        ModeExplorer(**kwargs)
    assert says in str(info.value)


def test_mode_explorer_can_start_in_eval_mode():
    w = ModeExplorer(mode="eval")
    assert w.state["mode"] == "eval" and w.state["train_passes"] == 0
    np.testing.assert_array_equal(w.state["running_mean"], 0.0)


# ---------------------------------------------------------------------------
# BatchNormPanel
# ---------------------------------------------------------------------------


def test_train_mode_uses_each_batchs_own_statistics():
    w = BatchNormPanel(batch_size=8)
    x = w.state["inputs"].reshape(-1, 8)
    expected = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(w.state["train_out"], expected.ravel(), rtol=1e-4, atol=1e-5)
    out = w.state["train_out"].reshape(-1, 8)
    np.testing.assert_allclose(out.mean(axis=1), 0.0, atol=1e-5)


def test_a_batch_of_two_normalises_to_plus_and_minus_one():
    w = BatchNormPanel(batch_size=2)
    np.testing.assert_allclose(np.abs(w.state["train_out"]), 1.0, atol=1e-3)


def test_eval_mode_uses_the_running_statistics():
    w = BatchNormPanel()
    s = w.state
    expected = (s["inputs"] - s["running_mean"]) / np.sqrt(s["running_var"] + 1e-5)
    np.testing.assert_allclose(s["eval_out"], expected, rtol=1e-4, atol=1e-5)
    assert abs(s["running_mean"] - s["population_mean"]) < 0.5
    assert abs(s["running_var"] - s["population_var"]) < 1.5


def test_small_batches_make_the_modes_diverge():
    w = BatchNormPanel(batch_size=64)
    big = w.state["mean_abs_diff"]
    w.batch_size_slider.value = 2
    small = w.state["mean_abs_diff"]
    assert small > 5 * big
    assert "batch size 2" in w.summary_text()


def test_momentum_changes_the_divergence():
    # One seed is one draw; the effect of momentum shows in the average over a few.
    diffs: dict[float, list[float]] = {0.01: [], 0.1: [], 1.0: []}
    for seed in range(6):
        w = BatchNormPanel(batch_size=8, momentum=0.1, seed=seed)
        no_drawing(w)
        for momentum in diffs:
            w.momentum_slider.value = momentum
            diffs[momentum].append(w.state["mean_abs_diff"])
            if momentum == 0.01:  # too slow: after 100 batches still far from the population
                assert abs(w.state["running_mean"] - w.state["population_mean"]) > 0.5
    mean = {m: float(np.mean(d)) for m, d in diffs.items()}
    assert mean[1.0] > 1.3 * mean[0.1]  # momentum 1: the running stats are the last batch's
    assert mean[0.01] > 1.3 * mean[0.1]


def test_more_training_batches_bring_the_running_stats_closer():
    w = BatchNormPanel(batch_size=16, momentum=0.05, n_batches=5)
    early = abs(w.state["running_mean"] - w.state["population_mean"])
    w.n_batches_slider.value = 300
    late = abs(w.state["running_mean"] - w.state["population_mean"])
    assert late < early / 5


def test_the_running_stats_are_those_of_a_real_batchnorm():
    w = BatchNormPanel(batch_size=4, momentum=0.3, n_batches=20, seed=2)
    gen = torch.Generator().manual_seed(2)
    data = 3.0 + 2.0 * torch.randn(20, 4, 1, generator=gen)
    bn = nn.BatchNorm1d(1, momentum=0.3, affine=False)
    with torch.no_grad():
        for batch in data:
            bn(batch)
    assert w.state["running_mean"] == pytest.approx(float(bn.running_mean[0]), rel=1e-6)
    assert w.state["running_var"] == pytest.approx(float(bn.running_var[0]), rel=1e-6)


def test_batchnorm_panel_is_deterministic_and_its_summary_tracks_the_sliders():
    a, b = BatchNormPanel(seed=4), BatchNormPanel(seed=4)
    assert a.summary_text() == b.summary_text()
    before = a.summary_text()
    a.momentum_slider.value = 0.5
    assert a.summary_text() != before and "momentum 0.50" in a.summary_text()
    a.momentum_slider.value = 0.1
    assert a.summary_text() == before


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"batch_size": 1}, ValueError, "batch_size must be between 2"),
        ({"batch_size": 8.0}, TypeError, "batch_size must be a whole number"),
        ({"momentum": 0.0}, ValueError, "momentum must be in (0, 1]"),
        ({"momentum": 1.5}, ValueError, "momentum must be between"),
        ({"n_batches": 0}, ValueError, "n_batches must be between 1"),
        ({"scale": 0.0}, ValueError, "scale (the population's standard deviation) must be between"),
    ],
)
def test_batchnorm_panel_rejects_bad_arguments(kwargs, error, says):
    with pytest.raises(error) as info:
        BatchNormPanel(**kwargs)
    assert says in str(info.value)
