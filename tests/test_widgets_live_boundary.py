"""LiveBoundaryTrainer: training frames lower the loss and move the boundary, every control
does what it says, and the async loop stops when Stop is clicked."""

from __future__ import annotations

import asyncio

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.widgets import LiveBoundaryTrainer


@pytest.fixture
def trainer() -> LiveBoundaryTrainer:
    return LiveBoundaryTrainer(grid_resolution=30)


def n_linear(model: nn.Module) -> int:
    return sum(isinstance(m, nn.Linear) for m in model.modules())


def test_starts_untrained_with_numbers_and_a_grid(trainer):
    s = trainer.state
    assert s["step"] == 0 and s["frame"] == 0 and s["train_loss"] is None
    assert s["dataset"] == "circles" and not s["running"] and not s["diverged"]
    assert s["grid_labels"].shape == (30, 30)
    assert s["grid_probabilities"].shape == (30, 30)
    assert 0.0 <= s["test_acc"] <= 1.0 and s["test_loss"] > 0
    assert "step 0" in trainer.summary.value


def test_step_trains_lowers_the_loss_and_changes_the_boundary(trainer):
    before = trainer.state
    after = trainer.step(n_frames=20)
    assert after["frame"] == 20
    assert after["step"] == 20 * trainer.steps_per_frame
    assert after["test_loss"] < 0.5 * before["test_loss"]
    assert after["train_loss"] < 0.5 * trainer.train_history[0]
    assert after["test_acc"] > 0.9
    assert not np.array_equal(before["grid_labels"], after["grid_labels"])
    assert not np.array_equal(before["grid_probabilities"], after["grid_probabilities"])
    assert len(trainer.train_history) == after["step"]


def test_one_step_is_one_frame_and_redraws(trainer):
    drawn = trainer.frames_drawn
    trainer.step()
    assert trainer.state["frame"] == 1 and trainer.state["step"] == trainer.steps_per_frame
    assert trainer.frames_drawn == drawn + 1
    assert trainer.host.widget.value[:2] == b"\xff\xd8"  # a JPEG frame was sent to the Image widget
    trainer.step(redraw=False)
    assert trainer.frames_drawn == drawn + 1


def test_boundary_is_measured_in_eval_mode_training_in_train_mode():
    w = LiveBoundaryTrainer(dropout=0.5, grid_resolution=20)
    w.step(n_frames=3)
    assert w.model.training  # left as the training loop left it
    first = w.state["grid_probabilities"]
    w._measure()  # measuring again without training gives the same eval-mode grid
    np.testing.assert_array_equal(first, w.grid_probabilities)
    assert w.model.training


def test_summary_text_changes(trainer):
    before = trainer.summary.value
    trainer.step(n_frames=2)
    after = trainer.summary.value
    assert after != before
    assert f"step {2 * trainer.steps_per_frame}" in after and "test acc" in after


def test_dataset_dropdown_changes_the_data_and_resets(trainer):
    trainer.step(n_frames=3)
    old_X = trainer.data.X_train.clone()
    trainer.dataset.value = "blobs"
    s = trainer.state
    assert s["dataset"] == "blobs" and s["step"] == 0 and s["frame"] == 0
    assert trainer.data.n_classes == 4
    assert not torch.equal(trainer.data.X_train[: len(old_X)], old_X)
    assert trainer.model[-1].out_features == 4
    assert isinstance(trainer.loss_fn, nn.CrossEntropyLoss)
    assert s["grid_probabilities"].shape == (30, 30, 4)
    assert set(np.unique(s["grid_labels"])) <= {0, 1, 2, 3}
    assert trainer.step(n_frames=10)["test_loss"] < s["test_loss"]
    trainer.dataset.value = "moons"
    assert trainer.data.n_classes == 2 and isinstance(trainer.loss_fn, nn.BCEWithLogitsLoss)


@pytest.mark.parametrize(
    ("control", "value", "check"),
    [
        ("width", 5, lambda m: m[0].out_features == 5),
        ("depth", 0, lambda m: n_linear(m) == 1),
        ("depth", 4, lambda m: n_linear(m) == 5),
        ("activation", "tanh", lambda m: any(isinstance(x, nn.Tanh) for x in m)),
        ("activation", "none", lambda m: not any(isinstance(x, nn.ReLU) for x in m)),
        ("dropout", 0.3, lambda m: any(isinstance(x, nn.Dropout) and x.p == 0.3 for x in m)),
    ],
)
def test_model_controls_reset_the_model(trainer, control, value, check):
    trainer.step(n_frames=2)
    old_model = trainer.model
    getattr(trainer, control).value = value
    assert trainer.model is not old_model
    assert check(trainer.model)
    assert trainer.state["step"] == 0 and trainer.train_history == []
    assert trainer.optimizer.param_groups[0]["params"][0] is next(trainer.model.parameters())


def test_reset_button_gives_the_same_fresh_model(trainer):
    fresh = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.step(n_frames=2)
    trainer.reset_button.click()
    assert trainer.state["step"] == 0
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, fresh[key])


def test_lr_change_reaches_the_optimizer_without_reset(trainer):
    trainer.step()
    model = trainer.model
    trainer.lr.value = 0.001
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.001)
    assert trainer.state["lr"] == pytest.approx(0.001)
    assert trainer.model is model and trainer.state["step"] == trainer.steps_per_frame
    assert "lr 0.0010" in trainer.summary.value


def test_same_seed_same_run_and_the_global_rng_is_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = LiveBoundaryTrainer(dropout=0.3, grid_resolution=20, seed=7)
    a.step(n_frames=3)
    assert torch.equal(torch.rand(3), expected)
    b = LiveBoundaryTrainer(dropout=0.3, grid_resolution=20, seed=7)
    b.step(n_frames=3)
    assert a.train_history == b.train_history
    np.testing.assert_array_equal(a.state["grid_probabilities"], b.state["grid_probabilities"])


def test_divergence_is_reported_and_stops_training(trainer):
    with torch.no_grad():
        trainer.model[0].weight.fill_(float("inf"))
    trainer.step(n_frames=3)
    assert trainer.state["diverged"]
    assert trainer.state["frame"] == 1  # the later frames did not run
    assert "diverged" in trainer.summary.value
    trainer.reset()
    assert not trainer.state["diverged"]


# ---------------------------------------------------------------------------
# The async loop and the buttons
# ---------------------------------------------------------------------------


def test_stop_click_stops_the_async_loop(trainer):
    async def main() -> None:
        task = asyncio.ensure_future(trainer.run())
        while trainer.state["frame"] < 3:
            await asyncio.sleep(0)
        assert trainer.running and trainer.train_button.disabled and not trainer.stop_button.disabled
        trainer.stop_button.click()
        await asyncio.wait_for(task, timeout=10)

    trainer.max_fps = 1000.0
    asyncio.run(main())
    frames = trainer.state["frame"]
    assert 3 <= frames <= 4  # at most the frame in progress finished after the click
    assert not trainer.running and not trainer.state["running"]
    assert not trainer.train_button.disabled and trainer.stop_button.disabled
    assert "stopped" in trainer.summary.value


def test_train_button_starts_a_task_that_pauses_after_max_frames():
    w = LiveBoundaryTrainer(grid_resolution=20, max_frames=4, max_fps=1000.0)

    async def main() -> None:
        w.train_button.click()
        assert w._task is not None
        w.train_button.click()  # a second click while running starts nothing new
        await asyncio.wait_for(w._task, timeout=10)

    asyncio.run(main())
    assert w.state["frame"] == 4
    assert "paused after 4 frames" in w.summary.value


def test_settings_can_change_while_the_loop_runs():
    w = LiveBoundaryTrainer(grid_resolution=20, max_fps=1000.0)

    async def main() -> None:
        task = asyncio.ensure_future(w.run(max_frames=6))
        while w.state["frame"] < 2:
            await asyncio.sleep(0)
        w.dataset.value = "blobs"  # resets mid-run; the loop trains the new model
        await asyncio.wait_for(task, timeout=10)

    asyncio.run(main())
    assert w.state["dataset"] == "blobs" and w.state["frame"] >= 1


def test_train_click_without_an_event_loop_trains_one_frame(trainer):
    trainer.train_button.click()
    assert trainer.state["frame"] == 1 and not trainer.running


def test_snapshot_is_an_image(trainer):
    image = trainer.snapshot()
    assert type(image).__name__ == "Image" and image.data[:2] == b"\xff\xd8"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"dataset": "spirals"}, ValueError),
        ({"hidden_width": 0}, ValueError),
        ({"hidden_width": 8.0}, TypeError),
        ({"depth": 9}, ValueError),
        ({"activation": "softmax"}, ValueError),
        ({"lr": 5.0}, ValueError),
        ({"dropout": 0.95}, ValueError),
        ({"steps_per_frame": 0}, ValueError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        LiveBoundaryTrainer(**kwargs)
