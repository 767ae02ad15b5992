"""Checkers for notebook 08 · transfer learning and BatchNorm.

* :func:`check_exercise_1`: ``keep_backbone_bn_eval(model)``, called at the start
  of every epoch instead of ``model.train()`` (as ``fit(..., set_train_mode=...)``
  does): the new head trains, the backbone's BatchNorm layers stay in eval mode.
* :func:`check_exercise_2`: ``freeze_backbone(model)``, called once: the backbone's
  weights *and* BatchNorm statistics stay frozen through any later
  ``model.train()``, while the head trains normally.

Both are checked on a hidden model with a ``features`` backbone (two
``BatchNorm2d``) and a ``head`` that has a ``BatchNorm1d`` and a ``Dropout`` of its
own: the head's BatchNorm is new and must keep learning. The checkers build
everything inside a forked random number generator, so they do not change the
random numbers the rest of the notebook sees.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from ._core import CheckResult, run_checks, sandbox
from ._core import is_function as _is_function
from ._probes import bn_stats as _bn_stats
from ._probes import same as _same

__all__ = ["check_exercise_1", "check_exercise_2"]

_SEED = 808
_BN = nn.modules.batchnorm._BatchNorm


class _Transfer(nn.Module):
    """A pretrained-style backbone (``features``) with a new ``head`` for 3 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(24, 8),
            nn.BatchNorm1d(8),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(8, 3),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _pretrained() -> _Transfer:
    """Running statistics estimated on 'old' data, so any drift is visible."""
    model = _Transfer().train()
    with torch.no_grad():
        for _ in range(20):
            model(torch.rand(32, 1, 8, 8))
    return model.eval()


def _new_data() -> tuple[torch.Tensor, torch.Tensor]:
    """'New' data with different input statistics (brighter, more contrast)."""
    return torch.rand(64, 1, 8, 8) * 2 + 0.5, torch.randint(0, 3, (64,))


def _params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _bn_in(module: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in module.named_modules() if isinstance(m, _BN)]


def _wrong_modes(model: _Transfer) -> str:
    """'' if backbone BN is in eval and every head layer in train mode, else what is wrong."""
    train_bn = [f"features.{n}" for n, m in _bn_in(model.features) if m.training]
    if train_bn:
        return (
            f"the backbone's BatchNorm layers {', '.join(train_bn)} are in train mode, so their "
            "running statistics would drift towards the new data"
        )
    head_off = [f"head.{n}" for n, m in model.head.named_modules() if n and not m.training]
    dropout_off = [
        f"head.{n}"
        for n, m in model.head.named_modules()
        if isinstance(m, nn.modules.dropout._DropoutNd) and not m.training
    ]
    if dropout_off:
        return (
            f"the head's Dropout ({', '.join(dropout_off)}) is in eval mode, so dropout is off "
            "while the new head trains; put the whole model in train mode first (model.train()), "
            "then switch only the backbone's BatchNorm layers to eval"
        )
    head_bn = [f"head.{n}" for n, m in _bn_in(model.head) if not m.training]
    if head_bn:
        return (
            f"the head's {', '.join(head_bn)} (BatchNorm1d) is in eval mode: the head is new, "
            "its BatchNorm must learn its statistics; switch only the BatchNorm layers inside "
            "model.features"
        )
    if head_off:
        return (
            f"the head's {', '.join(head_off)} are in eval mode; the new head must train in "
            "train mode: call model.train() first"
        )
    return ""


def _train(
    model: _Transfer,
    X: torch.Tensor,
    y: torch.Tensor,
    set_modes: Callable[[nn.Module], object],
    params: list[torch.nn.Parameter],
    epochs: int = 3,
) -> None:
    """A plain loop: set the modes at the start of every epoch, then mini-batches."""
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3)
    for _ in range(epochs):
        set_modes(model)
        for xb, yb in zip(X.split(16), y.split(16), strict=True):
            loss = nn.functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


# ---------------------------------------------------------------------------
# Exercise 1: keep_backbone_bn_eval
# ---------------------------------------------------------------------------


def check_exercise_1(keep_backbone_bn_eval: Callable[[nn.Module], object]) -> CheckResult:
    """Check ``keep_backbone_bn_eval(model)``, the per-epoch replacement for ``model.train()``."""
    with sandbox(_SEED):
        model = _pretrained()
        X, y = _new_data()
        for p in model.features.parameters():
            p.requires_grad_(False)

        def modes_from(prepare: Callable[[], object], what: str) -> Callable[[], object]:
            def check() -> object:
                prepare()
                keep_backbone_bn_eval(model)
                wrong = _wrong_modes(model)
                return f"called on {what}: {wrong}" if wrong else None

            return check

        def mixed_the_wrong_way() -> None:
            model.train()
            model.head.eval()

        def training_run() -> object:
            model.eval()
            stats, head_stats = _bn_stats(model.features), _bn_stats(model.head)
            head_params = _params(model.head)
            _train(model, X, y, keep_backbone_bn_eval, [p for p in model.parameters() if p.requires_grad])
            if not _same(stats, _bn_stats(model.features)):
                return (
                    "during training the backbone's running statistics moved: its BatchNorm "
                    "layers must be in eval mode for every training batch"
                )
            if _same(head_stats, _bn_stats(model.head)):
                return "the head's BatchNorm1d never updated its statistics: keep the head in train mode"
            if _same(head_params, _params(model.head)):
                return "the head's weights did not change during training"
            return None

        def dropout_active() -> object:
            keep_backbone_bn_eval(model)
            h = torch.rand(16, 6, 2, 2)
            with torch.no_grad():
                if torch.equal(model.head(h), model.head(h)):
                    return "two passes through the head gave the same output: its Dropout is off"
            return None

        def leaves_requires_grad() -> object:
            keep_backbone_bn_eval(model)
            if any(p.requires_grad for p in model.features.parameters()):
                return "the backbone's parameters require grad again: only change modes here"
            if not all(p.requires_grad for p in model.head.parameters()):
                return "some of the head's parameters stopped requiring grad: only change modes here"
            return None

        return run_checks(
            "1 (keep_backbone_bn_eval)",
            [
                ("keep_backbone_bn_eval is a function", _is_function(keep_backbone_bn_eval, "keep_backbone_bn_eval")),
                ("from eval mode: head in train mode, backbone BatchNorm in eval", modes_from(model.eval, "a model in eval mode")),
                ("from train mode: the same", modes_from(model.train, "a model in train mode")),
                ("from a model whose head is in eval mode", modes_from(mixed_the_wrong_way, "a model whose head is in eval mode")),
                ("the head's dropout is active", dropout_active),
                ("three epochs of training: backbone statistics fixed, head learns", training_run),
                ("requires_grad is left alone", leaves_requires_grad),
            ],
            hint=(
                "call model.train() first (the head needs train mode, dropout included), then "
                "loop over model.features.modules() and call .eval() on every "
                "nn.BatchNorm2d; leave the head's layers alone"
            ),
        )


# ---------------------------------------------------------------------------
# Exercise 2: freeze_backbone
# ---------------------------------------------------------------------------


def check_exercise_2(freeze_backbone: Callable[[nn.Module], object]) -> CheckResult:
    """Check ``freeze_backbone(model)``: frozen weights and statistics that survive ``model.train()``."""
    with sandbox(_SEED):
        model = _pretrained()
        X, y = _new_data()
        bystander = copy.deepcopy(model)  # never passed to freeze_backbone

        def weights_frozen() -> object:
            freeze_backbone(model)
            if any(p.requires_grad for p in model.features.parameters()):
                return "some backbone parameters still require grad: set requires_grad=False on model.features.parameters()"
            if not all(p.requires_grad for p in model.head.parameters()):
                return "the head's parameters were frozen too: freeze only model.features"
            return None

        def survives_train() -> object:
            model.train()
            wrong = _wrong_modes(model)
            if wrong and any(m.training for _, m in _bn_in(model.features)):
                return (
                    "after model.train(), " + wrong + ". Calling .eval() once is not enough: "
                    "model.train() calls .train() on every child again; override the backbone's "
                    "train method so that it puts its BatchNorm layers back in eval mode"
                )
            return f"after model.train(), {wrong}" if wrong else None

        def survives_backbone_train() -> object:
            model.features.train()
            busy = [n for n, m in _bn_in(model.features) if m.training]
            if busy:
                return (
                    f"after model.features.train(), features.{busy[0]} is in train mode again: "
                    "the override must also work when the backbone itself is switched"
                )
            return None

        def training_run() -> object:
            stats, weights = _bn_stats(model.features), _params(model.features)
            head_params = _params(model.head)
            # the common recipe: an optimizer over ALL parameters and model.train() every epoch
            _train(model, X, y, lambda m: m.train(), list(model.parameters()))
            if not _same(weights, _params(model.features)):
                return "the backbone's weights changed during training"
            if not _same(stats, _bn_stats(model.features)):
                return (
                    "the backbone's BatchNorm running statistics moved during training: they must "
                    "stay in eval mode for every training batch"
                )
            if _same(head_params, _params(model.head)):
                return "the head's weights did not change during training"
            return None

        def eval_still_works() -> object:
            model.eval()
            busy = [name or "(model)" for name, m in model.named_modules() if m.training]
            if busy:
                return f"after model.eval(), {', '.join(busy[:3])} are still in train mode"
            return None

        def others_untouched() -> object:
            bystander.train()
            if not all(m.training for _, m in _bn_in(bystander)):
                return (
                    "a different model's BatchNorm layers now refuse train mode: you changed the "
                    "BatchNorm class itself; change only this model's backbone"
                )
            return None

        def twice() -> object:
            freeze_backbone(model)
            model.train()
            wrong = _wrong_modes(model)
            if wrong:
                return f"after calling freeze_backbone a second time and model.train(): {wrong}"
            model.eval()
            if any(m.training for m in model.modules()):
                return "after calling freeze_backbone twice, model.eval() no longer reaches every layer"
            return None

        return run_checks(
            "2 (freeze_backbone)",
            [
                ("freeze_backbone is a function", _is_function(freeze_backbone, "freeze_backbone")),
                ("backbone weights frozen, head weights trainable", weights_frozen),
                ("after model.train(): backbone BatchNorm in eval, head in train mode", survives_train),
                ("after model.features.train(): backbone BatchNorm still in eval", survives_backbone_train),
                ("a training loop with model.train() each epoch", training_run),
                ("model.eval() still puts everything in eval mode", eval_still_works),
                ("other models are not affected", others_untouched),
                ("calling it twice is harmless", twice),
            ],
            hint=(
                "set requires_grad=False on model.features.parameters(); then give model.features "
                "its own train(mode=True) that calls nn.Sequential.train(model.features, mode) and "
                "then .eval() on every BatchNorm layer inside it, and returns model.features; "
                "assign it with model.features.train = your_function"
            ),
        )
