"""The notebook 08 checkers accept correct answers and reject each classic mistake with a reason."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.exercises import nb08
from course_utils.freezing import freeze, unfreeze

# ---------------------------------------------------------------------------
# Exercise 8.1: train_unfrozen
# ---------------------------------------------------------------------------


def _all_frozen(module):
    params = list(module.parameters())
    return bool(params) and not any(p.requires_grad for p in params)


def train_unfrozen(model):
    model.train()
    for module in model.modules():
        if _all_frozen(module):
            module.eval()


def train_unfrozen_recursive(model):
    """Another correct answer: walk the tree, stop at frozen parts."""

    def visit(module):
        if _all_frozen(module):
            module.eval()
            return
        module.training = True
        for child in module.children():
            visit(child)

    visit(model)


def hard_coded_features(model):
    """The notebook's two-part answer: it assumes a model.features."""
    model.train()
    model.features.eval()


def hard_coded_backbone(model):
    """Right for one split only: the block fine-tunes in the checker's first split."""
    model.train()
    model.backbone.eval()


def wrong_order(model):
    for module in model.modules():
        if _all_frozen(module):
            module.eval()
    model.train()  # undoes the loop


def own_parameters_only(model):
    """Looks at each layer's own weights: the stem's dropout and noise layer have none."""
    model.train()
    for module in model.modules():
        own = list(module.parameters(recurse=False))
        if own and not any(p.requires_grad for p in own):
            module.eval()


def no_weights_counts_as_frozen(model):
    """The empty edge case: a layer without parameters is 'all frozen' by all([])."""
    model.train()
    for module in model.modules():
        if all(not p.requires_grad for p in module.parameters()):
            module.eval()


def top_level_only(model):
    model.train()
    for child in model.children():
        if _all_frozen(child):
            child.eval()


def batchnorm_only(model):
    model.train()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d) and _all_frozen(module):
            module.eval()


def batchnorm_and_dropout_only(model):
    """A list of layer types misses the custom layer that reads self.training."""
    model.train()
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm2d, nn.Dropout2d)):
            parent_frozen = any(_all_frozen(m) and module in m.modules() for m in model.modules())
            if parent_frozen:
                module.eval()


def children_and_grandchildren_only(model):
    """Looks two levels down: misses a frozen layer deeper inside."""
    model.train()
    for child in model.children():
        for part in (child, *child.children()):
            if _all_frozen(part):
                part.eval()


def hard_coded_names(model):
    """Right for every split of the checker's first layout that it names, and no other."""
    model.train()
    for name in ("backbone", "backbone.stem", "backbone.block", "head"):
        part = model.get_submodule(name)
        if _all_frozen(part):
            part.eval()


def whole_model_eval(model):
    model.eval()


def plain_train(model):
    model.train()


def leaves_the_model_flag_off(model):
    model.eval()
    for child in model.children():
        train_unfrozen(child)


def changes_requires_grad(model):
    train_unfrozen(model)
    model.requires_grad_(True)


def resets_frozen_statistics(model):
    train_unfrozen(model)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and _all_frozen(module):
            module.reset_running_stats()


def freezes_with_the_library_and_forgets(model):
    """freeze() locks the parts once, but never unlocks a part that is no longer frozen: at the
    next epoch it tries to freeze the stem inside the still locked backbone, which freeze() refuses."""
    inside_a_frozen_part = set()
    for module in model.modules():  # outer parts first: freeze each outermost frozen part
        if _all_frozen(module) and module not in inside_a_frozen_part:
            freeze(module)
            inside_a_frozen_part |= set(module.modules())
    model.train()


@pytest.mark.parametrize("solution", [train_unfrozen, train_unfrozen_recursive])
def test_train_unfrozen_correct_passes(solution, capsys):
    assert nb08.check_exercise_1(solution).passed
    assert "✅ Exercise 8.1 (train_unfrozen) passed" in capsys.readouterr().out


TRAIN_UNFROZEN_MISTAKES = [
    (hard_coded_features, "your code raised AttributeError"),
    (hard_coded_backbone, "backbone.block.1 (BatchNorm2d) is in eval mode, but its weights train"),
    (wrong_order, "backbone.stem.1 (BatchNorm2d) is in train mode, although every weight of the part"),
    (own_parameters_only, "backbone.stem.4 (Dropout2d), backbone.stem.5 (_Jitter) are in train mode inside a frozen part"),
    (no_weights_counts_as_frozen, "head.4 (Dropout) is in eval mode, so dropout is off in a part that trains"),
    (top_level_only, "only the stem frozen (the block and the head fine-tune), called on a model in eval mode: "
                     "backbone.stem.1 (BatchNorm2d) is in train mode"),
    (batchnorm_only, "backbone.stem.4 (Dropout2d), backbone.stem.5 (_Jitter) are in train mode"),
    (batchnorm_and_dropout_only, "backbone.stem.5 (_Jitter) is in train mode inside a frozen part"),
    (children_and_grandchildren_only, "only the stem's BatchNorm2d frozen, three levels down (everything else "
                                      "fine-tunes), called on a model in eval mode: backbone.stem.1 (BatchNorm2d) "
                                      "is in train mode"),
    (hard_coded_names, "only the stem's BatchNorm2d frozen, three levels down"),
    (whole_model_eval, "the model itself reports eval mode"),
    (plain_train, "backbone.stem.1 (BatchNorm2d) is in train mode"),
    (leaves_the_model_flag_off, "the model itself reports eval mode (its training flag is False)"),
    (changes_requires_grad, "the call changed which parameters require grad"),
    (resets_frozen_statistics, "the call changed the BatchNorm running statistics"),
    (freezes_with_the_library_and_forgets, "gradual unfreezing: a part unfrozen between two epochs): your code raised "
                                           "ValueError: this Sequential is a layer inside a module frozen with freeze()"),
    ("train_unfrozen", "expected a function"),
]


@pytest.mark.parametrize(("wrong", "says"), TRAIN_UNFROZEN_MISTAKES)
def test_train_unfrozen_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb08.check_exercise_1(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message, result.message
    assert "Hint:" in out and "Traceback" not in out


# ---------------------------------------------------------------------------
# Exercise 8.2: FrozenBackbone
# ---------------------------------------------------------------------------


class FrozenBackbone(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        backbone.requires_grad_(False)
        self.eval()

    def forward(self, x):
        return self.backbone(x)

    def train(self, mode=True):
        return super().train(False)


class LibraryFrozenBackbone(nn.Module):
    """Another correct answer: the course's freeze() on the wrapper."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        freeze(self)

    def forward(self, x):
        return self.backbone(x)


class ColleaguesVersion(nn.Module):
    """The exercise's starting point: eval once, in the constructor."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone.requires_grad_(False).eval()
        self.training = False

    def forward(self, x):
        return self.backbone(x)


class NoInitialEval(nn.Module):
    """Overrides train() but never calls it: the backbone keeps the mode it came in."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone.requires_grad_(False)

    def forward(self, x):
        return self.backbone(x)

    def train(self, mode=True):
        return super().train(False)


class OverridesEval(FrozenBackbone):
    """eval() is never called by a parent's train(): the parent calls train(mode)."""

    def train(self, mode=True):
        return nn.Module.train(self, mode)

    def eval(self):
        return nn.Module.train(self, False)


class WrapperFlagFollows(FrozenBackbone):
    """The backbone stays in eval, but the wrapper reports train mode."""

    def train(self, mode=True):
        nn.Module.train(self, mode)
        self.backbone.eval()
        return self


class ForgetsReturn(FrozenBackbone):
    def train(self, mode=True):
        super().train(mode)


class RenamesMode(FrozenBackbone):
    def train(self, flag=True):
        return nn.Module.train(self, False)


class BatchNormOnly(FrozenBackbone):
    def train(self, mode=True):
        nn.Module.train(self, mode)
        self.training = False
        for m in self.backbone.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self


class KeepsWeightsTrainable(FrozenBackbone):
    def __init__(self, backbone):
        super().__init__(backbone)
        backbone.requires_grad_(True)


class WrapsInAContainer(FrozenBackbone):
    def __init__(self, backbone):
        super().__init__(nn.Sequential(backbone))


class ResetsStatistics(FrozenBackbone):
    def __init__(self, backbone):
        super().__init__(backbone)
        for m in backbone.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()


class ClosureOnTheBackbone(nn.Module):
    """A closure stored on the backbone instance: a deepcopy calls it on the ORIGINAL."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone.requires_grad_(False)

        def train(mode=True):
            nn.Module.train(backbone, False)
            return backbone

        backbone.train = train
        self.training = False
        backbone.train()

    def forward(self, x):
        return self.backbone(x)

    def train(self, mode=True):
        return super().train(False)


class LambdaOnTheWrapper(nn.Module):
    """A lambda that refers to no object survives deepcopy, but not pickling."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone.requires_grad_(False)
        self.train = lambda mode=True: nn.Module.train(self, False)
        self.train()

    def forward(self, x):
        return self.backbone(x)


class HookKeepsEval(FrozenBackbone):
    """Right for copies (the hook gets the module it runs on), but a local function cannot be pickled."""

    def __init__(self, backbone):
        super().__init__(backbone)

        def keep_eval(module, args):
            module.backbone.eval()

        self.register_forward_pre_hook(keep_eval)


class PatchesTheClass(FrozenBackbone):
    def __init__(self, backbone):
        super().__init__(backbone)
        original = nn.BatchNorm2d.train

        def train(self, mode=True):
            return original(self, False)

        nn.BatchNorm2d.train = train


@pytest.mark.parametrize("solution", [FrozenBackbone, LibraryFrozenBackbone])
def test_frozen_backbone_correct_passes(solution, capsys):
    assert nb08.check_exercise_2(solution).passed
    assert "✅ Exercise 8.2 (FrozenBackbone) passed" in capsys.readouterr().out


FROZEN_BACKBONE_MISTAKES = [
    # the bug the exercise starts from
    (ColleaguesVersion, "after model.train(): 0.backbone.stem.1 (BatchNorm2d), 0.backbone.block.1 (BatchNorm2d) "
                        "are in train mode, although every weight of the part around it is frozen"),
    (NoInitialEval, "right after FrozenBackbone(backbone), the FrozenBackbone itself (NoInitialEval), "
                    "backbone (Sequential), backbone.stem (Sequential), backbone.stem.0 (Conv2d), 10 more are in train mode"),
    (OverridesEval, "after model.train(): 0.backbone.stem.1 (BatchNorm2d), 0.backbone.block.1 (BatchNorm2d) are in train"),
    (WrapperFlagFollows, "0 (WrapperFlagFollows) is in train mode inside a frozen part"),
    (ForgetsReturn, "its .train() returned NoneType, not the FrozenBackbone"),
    (RenamesMode, "keep that name"),
    (BatchNormOnly, "0.backbone.stem.4 (Dropout2d), 0.backbone.stem.5 (_Jitter) are in train mode"),
    (KeepsWeightsTrainable, "still require grad"),
    (WrapsInAContainer, "the same object, not a copy or a container around it"),
    (ResetsStatistics, "changed the backbone's running statistics"),
    (ClosureOnTheBackbone, "after copy.deepcopy(model) and .train() on the copy: 0.backbone.stem.1 (BatchNorm2d)"),
    (LambdaOnTheWrapper, "does something stored on the object still refer to the original?"),
    (HookKeepsEval, "a function defined inside another function is registered as a hook on it (0)"),
    (FrozenBackbone(nn.Sequential()), "pass the class FrozenBackbone itself"),
    (42, "expected a class derived from nn.Module"),
]


@pytest.mark.parametrize(("wrong", "says"), FROZEN_BACKBONE_MISTAKES)
def test_frozen_backbone_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb08.check_exercise_2(wrong)
    out = capsys.readouterr().out
    assert not result.passed
    assert says in result.message, result.message
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
    assert "a torch class (such as nn.BatchNorm2d or nn.Sequential) was changed" in result.message


def test_no_message_or_hint_contains_code(capsys):
    """Failure messages say what happened, not what to type."""
    for wrong, _ in TRAIN_UNFROZEN_MISTAKES:
        nb08.check_exercise_1(wrong)
    for wrong, _ in FROZEN_BACKBONE_MISTAKES:
        nb08.check_exercise_2(wrong)
    out = capsys.readouterr().out
    for code in ("super().", "def ", "return self", ".eval()\n", "requires_grad_(", "for module in", "self.train"):
        assert code not in out, code


def test_checkers_do_not_move_the_callers_random_stream():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    nb08.check_exercise_1(train_unfrozen)
    nb08.check_exercise_2(FrozenBackbone)
    assert torch.equal(torch.rand(3), expected)


def test_the_library_answer_can_be_undone():
    backbone = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    wrapper = LibraryFrozenBackbone(backbone)
    unfreeze(wrapper)
    assert all(p.requires_grad for p in backbone.parameters())
