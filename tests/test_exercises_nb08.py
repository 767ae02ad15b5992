"""The notebook 08 checkers accept correct answers and explain typical mistakes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.exercises import nb08
from course_utils.freezing import freeze

# ---------------------------------------------------------------------------
# Exercise 1: keep_backbone_eval
# ---------------------------------------------------------------------------


def keep_backbone_eval(model):
    model.train()
    model.features.eval()


def keep_with_library(model):
    freeze(model.features)
    model.train()


def bn_only(model):
    """The old recipe: only the backbone's BatchNorm in eval, its dropout still drops."""
    model.train()
    for m in model.features.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def bn_and_dropout_only(model):
    """Misses the custom layer that reads self.training."""
    model.train()
    for m in model.features.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.Dropout2d)):
            m.eval()


def wrong_order(model):
    model.features.eval()
    model.train()  # undoes the line above


def whole_model_eval(model):
    model.eval()


def plain_train(model):
    model.train()


def every_bn_eval(model):
    model.train()
    model.features.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def backbone_eval_without_train(model):
    model.features.eval()  # the head keeps whatever mode it had


def unfreezes_weights(model):
    keep_backbone_eval(model)
    model.features.requires_grad_(True)


@pytest.mark.parametrize("solution", [keep_backbone_eval, keep_with_library])
def test_keep_backbone_eval_correct_passes(solution, capsys):
    assert nb08.check_exercise_1(solution).passed
    assert "✅ Exercise 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (bn_only, "features.4 (Dropout2d), features.7 (_Jitter) are in train mode"),
        (bn_and_dropout_only, "features.7 (_Jitter) is in train mode"),
        (wrong_order, "backbone's BatchNorm layers features.1, features.6 are in train mode"),
        (whole_model_eval, "dropout is off while the new head trains"),
        (plain_train, "backbone's BatchNorm layers features.1, features.6 are in train mode"),
        (every_bn_eval, "the head is new"),
        (backbone_eval_without_train, "a model in eval mode: the head's"),
        (unfreezes_weights, "require grad again"),
        ("keep_backbone_eval", "expected a function"),
    ],
)
def test_keep_backbone_eval_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb08.check_exercise_1(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message
    assert "Hint:" in out and "Traceback" not in out


# ---------------------------------------------------------------------------
# Exercise 2: TransferModel
# ---------------------------------------------------------------------------


class TransferModel(nn.Module):
    def __init__(self, features, head):
        super().__init__()
        self.features, self.head = features, head
        self.features.requires_grad_(False)

    def forward(self, x):
        return self.head(self.features(x))

    def train(self, mode=True):
        super().train(mode)
        self.features.eval()
        return self


class LibraryTransferModel(TransferModel):
    def __init__(self, features, head):
        super().__init__(features, head)
        freeze(self.features)

    def train(self, mode=True):
        return nn.Module.train(self, mode)


class ClosureTransferModel(nn.Module):
    """The old hint: a closure stored on the backbone instance."""

    def __init__(self, features, head):
        super().__init__()
        self.features, self.head = features, head
        features.requires_grad_(False)

        def train(mode=True):
            nn.Sequential.train(features, False)
            return features

        features.train = train

    def forward(self, x):
        return self.head(self.features(x))


class ModelClosureTransferModel(nn.Module):
    """A closure over self stored on the instance: a deepcopy calls it on the ORIGINAL."""

    def __init__(self, features, head):
        super().__init__()
        self.features, self.head = features, head
        features.requires_grad_(False)

        def train(mode=True):
            nn.Module.train(self, mode)
            self.features.eval()
            return self

        self.train = train

    def forward(self, x):
        return self.head(self.features(x))


class NoOverride(TransferModel):
    def __init__(self, features, head):
        super().__init__(features, head)
        self.features.eval()

    def train(self, mode=True):
        return nn.Module.train(self, mode)


class BnOnlyOverride(TransferModel):
    def train(self, mode=True):
        nn.Module.train(self, mode)
        for m in self.features.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self


class ForgetsReturn(TransferModel):
    def train(self, mode=True):
        super().train(mode)


class IgnoresMode(TransferModel):
    def train(self, mode=True):
        nn.Module.train(self, True)
        self.features.eval()
        return self


class AlwaysEval(TransferModel):
    def train(self, mode=True):
        return nn.Module.train(self, False)


class NoRequiresGrad(TransferModel):
    def __init__(self, features, head):
        nn.Module.__init__(self)
        self.features, self.head = features, head


class FreezesEverything(TransferModel):
    def __init__(self, features, head):
        super().__init__(features, head)
        self.head.requires_grad_(False)


class Wrapped(TransferModel):
    def __init__(self, features, head):
        super().__init__(nn.Sequential(features), head)


class PatchesTheClass(TransferModel):
    def __init__(self, features, head):
        super().__init__(features, head)
        original = nn.BatchNorm2d.train

        def train(self, mode=True):
            return original(self, False)

        nn.BatchNorm2d.train = train


def test_transfer_model_correct_passes(capsys):
    for solution in (TransferModel, LibraryTransferModel):
        assert nb08.check_exercise_2(solution).passed
        assert "✅ Exercise 2" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (ModelClosureTransferModel, "switched the ORIGINAL model's layers to train mode"),
        (ClosureTransferModel, "Can't pickle local object"),
        (NoOverride, "Calling .eval() once in the constructor is not enough"),
        (BnOnlyOverride, "features.4 (Dropout2d), features.7 (_Jitter) are in train mode"),
        (ForgetsReturn, "model.train() returned NoneType, not the model"),
        (IgnoresMode, "your train() must pass its mode argument on"),
        (AlwaysEval, "the head's Dropout (head.4) is in eval mode"),
        (NoRequiresGrad, "some backbone parameters still require grad"),
        (FreezesEverything, "the head's parameters were frozen too"),
        (Wrapped, "must keep the two parts as self.features and self.head"),
        (TransferModel(nn.Sequential(), nn.Sequential()), "pass the class TransferModel itself"),
        (42, "expected a class derived from nn.Module"),
    ],
)
def test_transfer_model_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb08.check_exercise_2(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message
    assert "Hint:" in out and "Traceback" not in out


def test_patching_the_batchnorm_class_is_caught(capsys):
    had_its_own = "train" in vars(nn.BatchNorm2d)
    try:
        result = nb08.check_exercise_2(PatchesTheClass)
    finally:
        # Undo the patch exactly: BatchNorm2d normally inherits train() from nn.Module,
        # and leaving an own attribute behind would leak into other tests.
        if had_its_own:
            raise AssertionError("nn.BatchNorm2d unexpectedly defines train() itself")
        if "train" in vars(nn.BatchNorm2d):
            del nn.BatchNorm2d.train
    assert not result.passed
    assert "you changed a torch class" in result.message


def test_checkers_do_not_move_the_callers_random_stream():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    nb08.check_exercise_1(keep_backbone_eval)
    nb08.check_exercise_2(TransferModel)
    assert torch.equal(torch.rand(3), expected)
