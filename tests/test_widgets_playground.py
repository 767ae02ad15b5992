"""PlaygroundTrainer (the playground page's trainer): BatchNorm, mini-batches, noise and the
split change what they say, the train-mode and eval-mode pictures are computed without
touching the model, and the async loop trains and stops."""

from __future__ import annotations

import asyncio

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from torch import nn

from course_utils.widgets import PlaygroundTrainer


@pytest.fixture
def trainer() -> PlaygroundTrainer:
    return PlaygroundTrainer(grid_resolution=24)


def test_starts_with_batchnorm_dropout_and_both_pictures(trainer):
    s = trainer.state
    assert s["step"] == 0 and s["batchnorm"] and s["batch_size"] == 16
    assert s["n_train"] + s["n_test"] == 400 and s["n_test"] == 120
    assert s["train_grid_labels"].shape == s["grid_labels"].shape == (24, 24)
    assert any(isinstance(m, nn.BatchNorm1d) for m in trainer.model.modules())
    assert any(isinstance(m, nn.Dropout) for m in trainer.model.modules())
    assert "BatchNorm on" in trainer.summary.value and "batch size 16" in trainer.summary.value


def test_one_step_is_one_mini_batch_and_epochs_reshuffle(trainer):
    trainer.step(4)  # 4 frames x 5 steps = 20 mini-batches of 16 out of 280 points: 18 per epoch
    assert trainer.state["step"] == 20 and trainer.state["epoch"] == 2
    assert "epoch 2" in trainer.summary.value


def test_a_last_batch_of_one_is_merged(trainer):
    trainer.test_share.value = 0.3575  # 257 training points: 64 batches of 4 and one of 1
    trainer.batch_size.value = 4
    assert trainer.state["n_train"] == 257
    trainer._epoch_order = []
    first = trainer._next_batch()
    sizes = [first.numel()] + [b.numel() for b in trainer._epoch_order]
    assert sum(sizes) == 257 and min(sizes) >= 2 and sizes[-1] == 5


def test_the_pictures_leave_the_model_untouched(trainer):
    trainer.step(2)
    model = trainer.model
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    params = {k: v.clone() for k, v in model.named_parameters()}
    trainer._measure()
    assert all(torch.equal(v, dict(model.named_buffers())[k]) for k, v in buffers.items())
    assert all(torch.equal(v, dict(model.named_parameters())[k]) for k, v in params.items())


def test_without_dropout_and_batchnorm_both_modes_agree(trainer):
    trainer.dropout.value = 0.0
    trainer.batchnorm.value = False
    trainer.step(3)
    assert trainer.state["mode_disagreement"] == 0.0
    assert (trainer.state["train_grid_labels"] == trainer.state["grid_labels"]).all()
    trainer.dropout.value = 0.5
    trainer.step(3)
    assert trainer.state["mode_disagreement"] > 0


@pytest.mark.parametrize(
    ("control", "value", "key", "expected"),
    [
        ("batchnorm", False, "batchnorm", False),
        ("batch_size", "full", "batch_size", 280),
        ("noise", 0.35, "noise", 0.35),
        ("test_share", 0.5, "n_train", 200),
        ("dataset", "blobs", "dataset", "blobs"),
    ],
)
def test_each_control_resets_and_says_so(trainer, control, value, key, expected):
    trainer.step(2)
    getattr(trainer, control).value = value
    assert trainer.state[key] == expected
    assert trainer.state["step"] == 0  # a new setting starts a new model
    assert "step 0" in trainer.summary.value


def test_batchnorm_really_goes(trainer):
    trainer.batchnorm.value = False
    assert not any(isinstance(m, nn.BatchNorm1d) for m in trainer.model.modules())
    assert "BatchNorm off" in trainer.summary.value


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"batchnorm": "yes"}, TypeError, "batchnorm must be True or False"),
        ({"batch_size": 5}, ValueError, "batch_size must be one of"),
        ({"noise": 0.9}, ValueError, "noise must be between"),
        ({"test_share": 0.05}, ValueError, "test_share must be between"),
        ({"dataset": "spirals"}, ValueError, "dataset must be one of"),
    ],
)
def test_bad_arguments_are_refused_clearly(kwargs, error, says):
    with pytest.raises(error, match=says):
        PlaygroundTrainer(**kwargs)


def test_train_animates_and_stop_stops(trainer):
    async def scenario():
        trainer._on_train()
        assert trainer._task is not None
        for _ in range(200):
            await asyncio.sleep(0.01)
            if trainer.state["step"] >= 10:
                break
        assert trainer.running and trainer.state["step"] >= 10
        trainer.stop_button.click()
        await asyncio.wait_for(trainer._task, timeout=10)
        stopped_at = trainer.state["step"]
        await asyncio.sleep(0.1)
        return stopped_at

    stopped_at = asyncio.run(scenario())
    assert not trainer.running and trainer.state["step"] == stopped_at
    assert "stopped" in trainer.summary.value
