"""course_utils.freezing: frozen weights AND a frozen part that stays in eval mode as a whole."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
from torch import nn

from course_utils.freezing import (
    freeze,
    frozen_eval_layers,
    frozen_norm_layers,
    is_frozen,
    unfreeze,
)
from course_utils.models import SmallCNN
from course_utils.modes import mode_report


def make_model() -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(n_classes=5, channels=(4, 8), hidden=16, dropout=0.5)


def batch(n: int = 16, shift: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 8, 8, generator=g) + shift, torch.randint(0, 5, (n,), generator=g)


def bn_layers(module: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]


def stats(module: nn.Module) -> list[torch.Tensor]:
    return [t.clone() for bn in bn_layers(module) for t in (bn.running_mean, bn.running_var)]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def train_steps(model: nn.Module, steps: int = 3, shift: float = 2.0) -> None:
    """A normal training loop: model.train() first, optimizer over ALL parameters."""
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=0.01)
    x, y = batch(shift=shift)
    for _ in range(steps):
        model.train()
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def test_bn_stays_in_eval_after_model_train():
    model = make_model()
    freeze(model.features)
    model.train()
    assert all(not bn.training for bn in bn_layers(model.features))
    assert model.training and not model.features.training and model.head.training
    model.features.train()  # calling train on the frozen module itself
    model.features[1].train()  # ... or on the layer itself
    assert all(not bn.training for bn in bn_layers(model.features))


def test_running_stats_do_not_move_in_train_mode():
    model = make_model()
    freeze(model.features)
    before = stats(model)
    model.train()
    with torch.no_grad():
        for _ in range(5):
            model(batch(shift=3.0)[0])
    assert same(before, stats(model))
    assert all(bn.num_batches_tracked.item() == 0 for bn in bn_layers(model))


def test_frozen_params_do_not_change_but_head_trains():
    model = make_model()
    freeze(model.features)
    assert all(not p.requires_grad for p in model.features.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    feat, head, st = params(model.features), params(model.head), stats(model)
    train_steps(model)
    assert same(feat, params(model.features))
    assert same(st, stats(model))
    assert not same(head, params(model.head)), "the head should still learn"


def test_stale_gradients_are_dropped():
    model = make_model()
    x, y = batch()
    nn.functional.cross_entropy(model(x), y).backward()  # grads exist before freezing
    freeze(model.features)
    assert all(p.grad is None for p in model.features.parameters())
    feat = params(model.features)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    opt.step()
    assert same(feat, params(model.features))


def test_head_dropout_still_active_in_train_mode():
    model = make_model()
    freeze(model.features)
    model.train()
    x = batch()[0]
    h = model.features(x)
    out1, out2 = model.head(h), model.head(h)
    assert not torch.equal(out1, out2), "dropout in the head should make two passes differ"
    model.eval()
    assert torch.equal(model.head(h), model.head(h))


def test_mode_report_shows_mixed_modes():
    model = make_model()
    freeze(model.features)
    model.train()
    report = mode_report(model)
    assert report.mixed
    assert report["features.1"].mode == "eval"
    assert report["features.4"].mode == "eval", "the backbone's Dropout2d is part of the frozen backbone"
    assert report["features.6"].mode == "eval"
    assert report["head.3"].mode == "train"
    model.eval()
    assert not mode_report(model).mixed


def test_the_whole_frozen_part_stays_in_eval_and_computes_the_same_features():
    model = make_model()
    freeze(model.features)
    model.train()
    assert not any(m.training for m in model.features.modules())
    assert all(m.training for m in model.head.modules())
    x = batch()[0]
    with torch.no_grad():
        assert torch.equal(model.features(x), model.features(x)), "a frozen backbone is deterministic"
        assert torch.equal(model.features(x), model.eval().features(x))
    assert frozen_eval_layers(model) == [f"features{n and '.' + n}" for n, _ in model.features.named_modules()]


class Noise(nn.Module):
    """A custom layer that reads self.training."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.randn_like(x) if self.training else x


def test_custom_layers_that_read_self_training_stay_in_eval():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Sequential(nn.Linear(3, 4), Noise()), nn.Linear(4, 2), nn.Dropout(0.5))
    freeze(model[0])
    model.train()
    x = torch.rand(5, 3)
    assert not model[0][1].training and model[2].training
    with torch.no_grad():
        assert torch.equal(model[0](x), model[0](x))


def test_keep_eval_norm_leaves_the_backbone_dropout_active():
    model = make_model()
    freeze(model.features, keep_eval="norm")
    model.train()
    assert all(not bn.training for bn in bn_layers(model.features))
    assert model.features[4].training, "with keep_eval='norm' the backbone's Dropout2d follows model.train()"
    assert frozen_eval_layers(model) == ["features.1", "features.6"]
    x = batch()[0]
    with torch.no_grad():
        assert not torch.equal(model.features(x), model.features(x))


def test_deepcopy_gets_its_own_lock_and_never_touches_the_original():
    model = make_model()
    freeze(model.features)
    model.eval()
    clone = copy.deepcopy(model)
    clone.train()
    assert not any(m.training for m in clone.features.modules())
    assert all(m.training for m in clone.head.modules())
    assert not any(m.training for m in model.modules()), "clone.train() must not switch the original"
    model.train()
    clone.eval()
    assert model.head[3].training and not any(m.training for m in model.features.modules())
    assert clone.features[1].train is not model.features[1].train
    assert clone.features[1].train.layer is clone.features[1]


def test_pickle_round_trip_keeps_the_frozen_part_in_eval():
    model = make_model()
    freeze(model.features)
    for round_trip in (
        lambda m: pickle.loads(pickle.dumps(m)),
        lambda m: _torch_round_trip(m),
    ):
        loaded = round_trip(model)
        loaded.train()
        assert not any(m.training for m in loaded.features.modules())
        assert loaded.head[3].training
        assert not any(p.requires_grad for p in loaded.features.parameters())
        x = batch()[0]
        with torch.no_grad():
            assert torch.equal(loaded.features(x), loaded.features(x))
        unfreeze(loaded.features)
        loaded.train()
        assert all(m.training for m in loaded.modules())


def _torch_round_trip(model: nn.Module) -> nn.Module:
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


def test_the_mode_is_not_part_of_the_state_dict():
    model = make_model()
    freeze(model.features)
    model.eval()
    fresh = make_model()
    fresh.load_state_dict(model.state_dict())
    assert fresh.training and all(m.training for m in fresh.modules()), "a fresh model starts in train mode"
    assert set(model.state_dict()) == set(fresh.state_dict())


def test_unfreeze_restores_normal_behaviour():
    model = make_model()
    freeze(model.features)
    unfreeze(model.features)
    assert not is_frozen(model.features)
    assert frozen_norm_layers(model) == []
    assert all(p.requires_grad for p in model.parameters())
    model.train()
    assert all(bn.training for bn in bn_layers(model))
    before, feat = stats(model), params(model.features)
    train_steps(model)
    assert not same(before, stats(model))
    assert not same(feat, params(model.features))
    model.eval()
    assert all(not bn.training for bn in bn_layers(model))


def test_unfreeze_restores_previous_requires_grad_and_mode():
    model = make_model()
    model.features[0].bias.requires_grad_(False)  # frozen by hand before
    model.train()
    freeze(model.features)
    unfreeze(model)  # unfreezing the parent reaches the frozen submodule
    assert not model.features[0].bias.requires_grad
    assert model.features[0].weight.requires_grad
    assert all(bn.training for bn in bn_layers(model)), "BN should follow the (train) mode again"


def test_freeze_and_unfreeze_are_idempotent():
    model = make_model()
    freeze(model.features)
    assert freeze(model.features) is model.features
    assert frozen_norm_layers(model.features) == ["1", "6"]
    unfreeze(model.features)
    assert unfreeze(model.features) is model.features
    assert all(p.requires_grad for p in model.parameters())
    assert frozen_norm_layers(model) == []


def test_does_not_affect_other_modules_or_instances():
    model, other = make_model(), make_model()
    freeze(model.features)
    other.train()
    assert all(bn.training for bn in bn_layers(other))
    assert "train" not in nn.BatchNorm2d.__dict__, "the class itself must not be patched"
    assert all(not _locked(m) for m in model.head.modules())


def _locked(m: nn.Module) -> bool:
    return "train" in m.__dict__


def test_bad_input_raises_type_error():
    with pytest.raises(TypeError, match="nn.Module"):
        freeze(make_model().state_dict())
    with pytest.raises(TypeError, match="nn.Module"):
        unfreeze("features")
    with pytest.raises(TypeError, match="keep_eval"):
        freeze(make_model(), keep_eval=True)
    with pytest.raises(ValueError, match="'all', 'norm', 'none'"):
        freeze(make_model(), keep_eval="bn")


def test_locked_train_still_rejects_non_bool_like_pytorch():
    model = make_model()
    freeze(model.features)
    with pytest.raises(ValueError, match="boolean"):
        model.features[1].train("eval")


def test_keep_eval_none_only_freezes_weights_so_stats_move():
    model = make_model()
    freeze(model.features, keep_eval="none")
    feat, st = params(model.features), stats(model)
    train_steps(model)
    assert same(feat, params(model.features))
    assert not same(st, stats(model)), "with keep_eval='none' the running stats should drift"
    assert frozen_eval_layers(model) == []


def test_switching_keep_eval_on_a_frozen_module():
    model = make_model()
    freeze(model.features, keep_eval="none")
    freeze(model.features, keep_eval="all")
    assert frozen_norm_layers(model.features) == ["1", "6"]
    assert "4" in frozen_eval_layers(model.features)
    freeze(model.features, keep_eval="norm")
    assert frozen_eval_layers(model.features) == ["1", "6"]
    model.train()
    assert model.features.training and model.features[4].training
    freeze(model.features, keep_eval="none")
    model.train()
    assert frozen_eval_layers(model) == [] and all(m.training for m in model.modules())


def test_works_on_the_whole_model_and_on_a_single_layer():
    model = make_model()
    freeze(model)
    model.train()
    assert not any(m.training for m in model.modules())
    freeze(model, keep_eval="norm")
    model.train()
    assert all(not bn.training for bn in bn_layers(model))
    assert model.head[3].training  # with "norm", dropout is not locked: it follows the mode
    bn = nn.BatchNorm1d(3)
    freeze(bn)
    bn.train()
    assert not bn.training
    assert frozen_norm_layers(bn) == ["(module)"]


def test_survives_deepcopy_pickle_and_state_dict_round_trip():
    model = make_model()
    freeze(model.features)
    clone = copy.deepcopy(model)
    clone.train()
    assert all(not bn.training for bn in bn_layers(clone))
    assert clone.features[1].train is not model.features[1].train
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    loaded.train()
    assert all(not bn.training for bn in bn_layers(loaded))
    assert set(model.state_dict()) == set(make_model().state_dict())


def test_eval_still_works_and_train_returns_the_layer():
    model = make_model()
    freeze(model.features)
    assert model.features[1].train() is model.features[1]
    model.eval()
    assert not any(m.training for m in model.modules())


def test_unfreeze_never_leaves_a_part_in_train_mode_inside_a_model_in_eval_mode():
    model = make_model()
    model.train()
    freeze(model.features)
    model.eval()
    unfreeze(model.features)
    assert not any(m.training for m in model.modules()), "the unlocked layers take eval, like the model"
    x = batch()[0]
    with torch.no_grad():
        assert torch.equal(model(x), model(x)), "inference stays deterministic after unfreeze"
    model.train()
    assert all(m.training for m in model.modules()), "the next model.train() sets every layer again"


def test_unfreezing_from_the_parent_gives_the_layers_the_parents_mode():
    model = make_model()
    freeze(model.features)
    model.train()
    unfreeze(model)
    assert all(m.training for m in model.modules())
    freeze(model.features)
    model.eval()
    unfreeze(model)
    assert not any(m.training for m in model.modules())


def test_unfreeze_of_a_layer_inside_a_frozen_module_raises():
    model = make_model()
    freeze(model.features)
    with pytest.raises(ValueError, match="inside a module frozen with freeze"):
        unfreeze(model.features[1])
    assert is_frozen(model.features) and not model.features[1].weight.requires_grad
    unfreeze(model.features)
    assert unfreeze(model.features[1]) is model.features[1]  # no longer inside a frozen module


def test_a_weaker_keep_eval_lets_the_unlocked_layers_follow_their_parent():
    model = make_model()
    model.train()
    freeze(model.features)  # the Dropout2d was in train mode before freezing
    model.eval()
    freeze(model.features, keep_eval="norm")
    assert not model.features[4].training, "the unlocked Dropout2d takes its parent's (eval) mode"
    model.train()
    assert model.features[4].training and not model.features[1].training


def test_requires_grad_by_hand_does_not_undo_the_freeze():
    model = make_model()
    freeze(model.features)
    model.features.requires_grad_(True)
    model.train()
    assert is_frozen(model.features) and not any(m.training for m in model.features.modules())
    unfreeze(model.features)
    assert not is_frozen(model.features)


def test_resetting_frozen_statistics_raises_instead_of_wiping_them():
    model = make_model()
    x = batch()[0]
    model.train()
    with torch.no_grad():
        model(x)  # statistics that are not the 0/1 defaults
    freeze(model.features)
    before = stats(model.features)
    with pytest.raises(RuntimeError, match="update_bn, for one, resets"):
        torch.optim.swa_utils.update_bn([x], model)
    assert same(before, stats(model.features)), "the pretrained statistics survive"
    with pytest.raises(RuntimeError, match="frozen by course_utils.freeze"):
        copy.deepcopy(model).features[1].reset_running_stats()
    loaded = pickle.loads(pickle.dumps(model))
    with pytest.raises(RuntimeError, match="frozen by course_utils.freeze"):
        loaded.features[6].reset_running_stats()
    unfreeze(model.features)
    torch.optim.swa_utils.update_bn([x], model)  # allowed again once unfrozen
    assert not same(before, stats(model.features))


def test_norm_only_freeze_guards_the_statistics_too_and_none_does_not():
    model = make_model()
    freeze(model.features, keep_eval="norm")
    with pytest.raises(RuntimeError):
        model.features[1].reset_running_stats()
    freeze(model.features, keep_eval="none")
    model.features[1].reset_running_stats()  # weights only: the statistics are not protected


def test_freeze_of_a_layer_inside_a_frozen_module_raises():
    """A second record inside a frozen part would keep that layer's weights frozen for good."""
    model = make_model()
    freeze(model.features)
    with pytest.raises(ValueError, match="inside a module frozen with freeze"):
        freeze(model.features[1])
    unfreeze(model.features)
    assert all(p.requires_grad for p in model.features.parameters())
    freeze(model.features[1])  # no longer inside a frozen module: allowed
    assert not model.features[1].weight.requires_grad


def test_unfreeze_gives_unlocked_layers_their_parents_mode():
    """unfreeze can switch modes: the unlocked layers take the mode of the layer they sit in."""
    model = make_model()
    freeze(model.features, keep_eval="norm")
    model.train()
    assert model.features.training and not any(bn.training for bn in bn_layers(model))
    unfreeze(model.features)
    assert all(bn.training for bn in bn_layers(model)), "the BatchNorms take the mode of features"
    freeze(model.features)
    model.train()
    unfreeze(model.features)
    assert not any(m.training for m in model.features.modules()), "the locked module keeps eval"


def test_a_layer_added_after_freeze_follows_its_locked_parent():
    model = make_model()
    freeze(model.features)
    model.features.add_module("late", nn.Dropout(0.5))
    model.train()
    assert not model.features.late.training, "the parent's lock switches its children to eval"
    assert "late" not in " ".join(frozen_eval_layers(model))
    freeze(model.features)  # freezing again takes it in
    assert "features.late" in frozen_eval_layers(model)
