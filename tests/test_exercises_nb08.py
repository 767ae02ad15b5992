"""The notebook 08 checkers accept correct answers and explain typical mistakes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.exercises import nb08
from course_utils.freezing import freeze

# ---------------------------------------------------------------------------
# Exercise 1: keep_backbone_bn_eval
# ---------------------------------------------------------------------------


def keep_backbone_bn_eval(model):
    model.train()
    for m in model.features.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def keep_with_library(model):
    freeze(model.features)
    model.train()


def whole_model_eval(model):
    model.eval()


def plain_train(model):
    model.train()


def every_bn_eval(model):
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def backbone_eval_without_train(model):
    model.features.eval()  # the head keeps whatever mode it had


def unfreezes_weights(model):
    keep_backbone_bn_eval(model)
    model.features.requires_grad_(True)


@pytest.mark.parametrize("solution", [keep_backbone_bn_eval, keep_with_library])
def test_keep_backbone_bn_eval_correct_passes(solution, capsys):
    assert nb08.check_exercise_1(solution).passed
    assert "✅ Exercise 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (whole_model_eval, "dropout is off while the new head trains"),
        (plain_train, "backbone's BatchNorm layers features.1, features.5 are in train mode"),
        (every_bn_eval, "the head is new"),
        (backbone_eval_without_train, "a model in eval mode: the head's"),
        (unfreezes_weights, "require grad again"),
        ("keep_backbone_bn_eval", "expected a function"),
    ],
)
def test_keep_backbone_bn_eval_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb08.check_exercise_1(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message
    assert "Hint:" in out and "Traceback" not in out


# ---------------------------------------------------------------------------
# Exercise 2: freeze_backbone
# ---------------------------------------------------------------------------


def freeze_backbone(model):
    backbone = model.features
    for p in backbone.parameters():
        p.requires_grad_(False)

    def train(mode=True):
        nn.Sequential.train(backbone, mode)
        for m in backbone.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return backbone

    backbone.train = train
    backbone.train(backbone.training)
    return model


def freeze_backbone_library(model):
    freeze(model.features)


def weights_only(model):
    for p in model.features.parameters():
        p.requires_grad_(False)


def eval_once(model):
    weights_only(model)
    model.features.eval()


def eval_only(model):
    model.features.eval()

    def train(mode=True):
        nn.Sequential.train(model.features, mode)
        for m in model.features.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return model.features

    model.features.train = train


def freeze_everything(model):
    freeze(model)


def patch_the_class(model):
    weights_only(model)
    original = nn.BatchNorm2d.train

    def train(self, mode=True):
        return original(self, False)

    nn.BatchNorm2d.train = train


def patch_the_parent(model):
    """Overrides the whole model's train: works for model.train(), not for model.features.train()."""
    weights_only(model)
    cls_train = type(model).train

    def train(mode=True):
        cls_train(model, mode)
        for m in model.features.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return model

    model.train = train


@pytest.mark.parametrize("solution", [freeze_backbone, freeze_backbone_library])
def test_freeze_backbone_correct_passes(solution, capsys):
    assert nb08.check_exercise_2(solution).passed
    assert "✅ Exercise 2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (weights_only, "Calling .eval() once is not enough"),
        (eval_once, "override the backbone's train method"),
        (eval_only, "still require grad"),
        (freeze_everything, "the head's parameters were frozen too"),
        (patch_the_parent, "after model.features.train()"),
        (42, "expected a function"),
    ],
)
def test_freeze_backbone_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb08.check_exercise_2(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message
    assert "Hint:" in out and "Traceback" not in out


def test_patching_the_batchnorm_class_is_caught(capsys):
    had_its_own = "train" in vars(nn.BatchNorm2d)
    try:
        result = nb08.check_exercise_2(patch_the_class)
    finally:
        # Undo the patch exactly: BatchNorm2d normally inherits train() from nn.Module,
        # and leaving an own attribute behind would leak into other tests.
        if had_its_own:
            raise AssertionError("nn.BatchNorm2d unexpectedly defines train() itself")
        if "train" in vars(nn.BatchNorm2d):
            del nn.BatchNorm2d.train
    assert not result.passed
    assert "changed the BatchNorm class itself" in result.message


def test_checkers_do_not_move_the_callers_random_stream():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    nb08.check_exercise_1(keep_backbone_bn_eval)
    nb08.check_exercise_2(freeze_backbone)
    assert torch.equal(torch.rand(3), expected)
