"""Checkers for notebook 08 · transfer learning: freezing is not eval mode.

* :func:`check_exercise_1`: ``keep_backbone_eval(model)``, called at the start
  of every epoch instead of ``model.train()`` (as ``fit(..., set_train_mode=...)``
  does): the new head trains, the frozen backbone is in eval mode *as a whole*
  (BatchNorm, dropout and any custom layer that reads ``self.training``).
* :func:`check_exercise_2`: ``TransferModel(features, head)``, an ``nn.Module``
  subclass whose ``train()`` keeps the frozen backbone in eval mode, in a way that
  survives ``copy.deepcopy`` and pickling (an overridden method, not a closure
  stored on the instance).

Both are checked on a hidden model with a ``features`` backbone (two
``BatchNorm2d``, a ``Dropout2d`` and a custom noise layer) and a ``head`` that has a
``BatchNorm1d`` and a ``Dropout`` of its own: the head's BatchNorm is new and must
keep learning. The checkers build everything inside a forked random number
generator, so they do not change the random numbers the rest of the notebook sees.
"""

from __future__ import annotations

import copy
import inspect
import pickle
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


class _Jitter(nn.Module):
    """A custom layer that reads ``self.training``: adds noise in train mode only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.1 * torch.randn_like(x) if self.training else x


def _backbone() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout2d(0.3),
        nn.Conv2d(4, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        _Jitter(),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


def _head() -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(24, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(8, 3),
    )


class _Transfer(nn.Module):
    """A pretrained-style backbone (``features``) with a new ``head`` for 3 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _backbone()
        self.head = _head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _warm_up(features: nn.Module) -> nn.Module:
    """Running statistics estimated on 'old' data, so any drift is visible."""
    features.train()
    with torch.no_grad():
        for _ in range(20):
            features(torch.rand(32, 1, 8, 8))
    return features.eval()


def _pretrained() -> _Transfer:
    model = _Transfer()
    _warm_up(model.features)
    return model.eval()


def _new_data() -> tuple[torch.Tensor, torch.Tensor]:
    """'New' data with different input statistics (brighter, more contrast)."""
    return torch.rand(64, 1, 8, 8) * 2 + 0.5, torch.randint(0, 3, (64,))


def _params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _bn_in(module: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in module.named_modules() if isinstance(m, _BN)]


def _named(prefix: str, name: str, module: nn.Module) -> str:
    return f"{prefix}.{name} ({type(module).__name__})" if name else f"{prefix} ({type(module).__name__})"


def _random_in_train(module: nn.Module) -> bool:
    """Dropout layers and custom layers (classes not from torch.nn): they may read self.training."""
    return isinstance(module, nn.modules.dropout._DropoutNd) or not type(module).__module__.startswith("torch.nn")


def _wrong_modes(model: nn.Module) -> str:
    """'' if the whole backbone is in eval and every head layer in train mode, else what is wrong."""
    train_bn = [f"features.{n}" for n, m in _bn_in(model.features) if m.training]
    if train_bn:
        return (
            f"the backbone's BatchNorm layers {', '.join(train_bn)} are in train mode, so their "
            "running statistics would drift towards the new data"
        )
    busy = [n for n, m in model.features.named_modules() if m.training]
    if busy:
        modules = dict(model.features.named_modules())
        random_ones = [n for n in busy if _random_in_train(modules[n])]
        shown = [_named("features", n, modules[n]) for n in (random_ones or busy)[:4]]
        more = len(random_ones or busy) - len(shown)
        busy = shown + ([f"{more} more"] if more > 0 else [])
        return (
            f"{', '.join(busy)} {'is' if len(busy) == 1 else 'are'} in train mode: the backbone's "
            "BatchNorm is in eval, but its dropout and noise layers still change the features on "
            "every pass, so the head never sees the same backbone twice. A frozen backbone "
            "belongs in eval mode as a whole, not only its BatchNorm layers"
        )
    dropout_off = [
        f"head.{n}"
        for n, m in model.head.named_modules()
        if isinstance(m, nn.modules.dropout._DropoutNd) and not m.training
    ]
    if dropout_off:
        return (
            f"the head's Dropout ({', '.join(dropout_off)}) is in eval mode, so dropout is off "
            "while the new head trains; the head needs train mode, only the backbone eval mode"
        )
    head_bn = [f"head.{n}" for n, m in _bn_in(model.head) if not m.training]
    if head_bn:
        return (
            f"the head's {', '.join(head_bn)} (BatchNorm1d) is in eval mode: the head is new, "
            "its BatchNorm must learn its statistics; only the backbone stays in eval mode"
        )
    head_off = [f"head.{n}" for n, m in model.head.named_modules() if not m.training]
    if head_off:
        return (
            f"the head's {', '.join(head_off)} are in eval mode; the new head must train in "
            "train mode"
        )
    return ""


def _train(
    model: nn.Module,
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


def _backbone_is_fixed(model: nn.Module, X: torch.Tensor) -> str | None:
    with torch.no_grad():
        if not torch.equal(model.features(X), model.features(X)):
            return (
                "two passes of the same images through the backbone gave different features, "
                "so something in the backbone is still in train mode"
            )
    return None


# ---------------------------------------------------------------------------
# Exercise 1: keep_backbone_eval
# ---------------------------------------------------------------------------


def check_exercise_1(keep_backbone_eval: Callable[[nn.Module], object]) -> CheckResult:
    """Check ``keep_backbone_eval(model)``, the per-epoch replacement for ``model.train()``."""
    with sandbox(_SEED):
        model = _pretrained()
        X, y = _new_data()
        for p in model.features.parameters():
            p.requires_grad_(False)

        def modes_from(prepare: Callable[[], object], what: str) -> Callable[[], object]:
            def check() -> object:
                prepare()
                keep_backbone_eval(model)
                wrong = _wrong_modes(model)
                return f"called on {what}: {wrong}" if wrong else None

            return check

        def mixed_the_wrong_way() -> None:
            model.train()
            model.head.eval()

        def same_features() -> object:
            keep_backbone_eval(model)
            return _backbone_is_fixed(model, X[:16])

        def training_run() -> object:
            model.eval()
            stats, head_stats = _bn_stats(model.features), _bn_stats(model.head)
            head_params = _params(model.head)
            _train(model, X, y, keep_backbone_eval, [p for p in model.parameters() if p.requires_grad])
            if not _same(stats, _bn_stats(model.features)):
                return (
                    "during training the backbone's running statistics moved: the backbone "
                    "must be in eval mode for every training batch"
                )
            if _same(head_stats, _bn_stats(model.head)):
                return "the head's BatchNorm1d never updated its statistics: keep the head in train mode"
            if _same(head_params, _params(model.head)):
                return "the head's weights did not change during training"
            return None

        def dropout_active() -> object:
            keep_backbone_eval(model)
            h = torch.rand(16, 6, 2, 2)
            with torch.no_grad():
                if torch.equal(model.head(h), model.head(h)):
                    return "two passes through the head gave the same output: its Dropout is off"
            return None

        def leaves_requires_grad() -> object:
            keep_backbone_eval(model)
            if any(p.requires_grad for p in model.features.parameters()):
                return "the backbone's parameters require grad again: only change modes here"
            if not all(p.requires_grad for p in model.head.parameters()):
                return "some of the head's parameters stopped requiring grad: only change modes here"
            return None

        return run_checks(
            "1 (keep_backbone_eval)",
            [
                ("keep_backbone_eval is a function", _is_function(keep_backbone_eval, "keep_backbone_eval")),
                ("from eval mode: head in train mode, whole backbone in eval", modes_from(model.eval, "a model in eval mode")),
                ("from train mode: the same", modes_from(model.train, "a model in train mode")),
                ("from a model whose head is in eval mode", modes_from(mixed_the_wrong_way, "a model whose head is in eval mode")),
                ("the backbone gives the same features on every pass", same_features),
                ("the head's dropout is active", dropout_active),
                ("three epochs of training: backbone statistics fixed, head learns", training_run),
                ("requires_grad is left alone", leaves_requires_grad),
            ],
            hint=(
                "the head needs train mode (dropout and its own BatchNorm included), the frozen "
                "backbone eval mode, every layer of it; remember that .train() and .eval() "
                "recurse into every child, so the order of the two calls matters"
            ),
        )


# ---------------------------------------------------------------------------
# Exercise 2: TransferModel
# ---------------------------------------------------------------------------


def check_exercise_2(TransferModel: type) -> CheckResult:  # noqa: N803 - the learner's class
    """Check ``TransferModel(features, head)``: a frozen backbone that stays in eval mode,
    through ``model.train()``, ``copy.deepcopy`` and pickling."""
    with sandbox(_SEED):
        X, y = _new_data()
        built: dict[str, nn.Module] = {}

        def is_a_module_class() -> object:
            if not (inspect.isclass(TransferModel) and issubclass(TransferModel, nn.Module)):
                return (
                    f"expected a class derived from nn.Module, got {type(TransferModel).__name__}; "
                    "pass the class TransferModel itself, not an instance of it"
                )
            return None

        def builds() -> object:
            features, head = _warm_up(_backbone()), _head()
            model = TransferModel(features, head)
            if getattr(model, "features", None) is not features or getattr(model, "head", None) is not head:
                return "TransferModel(features, head) must keep the two parts as self.features and self.head"
            x = X[:8]
            with torch.no_grad(), torch.random.fork_rng():
                torch.manual_seed(0)  # the same dropout masks for both passes
                out = model(x)
                torch.manual_seed(0)
                if not torch.equal(out, head(features(x))):
                    return "model(x) is not head(features(x))"
            built["model"] = model
            return None

        def weights_frozen() -> object:
            model = built["model"]
            if any(p.requires_grad for p in model.features.parameters()):
                return (
                    "some backbone parameters still require grad: the constructor should set "
                    "requires_grad=False on every parameter of features"
                )
            if not all(p.requires_grad for p in model.head.parameters()):
                return "the head's parameters were frozen too: freeze only the backbone"
            return None

        def survives_train() -> object:
            model = built["model"]
            returned = model.train()
            wrong = _wrong_modes(model)
            if wrong and any(m.training for m in model.features.modules()):
                return (
                    "after model.train(), " + wrong + ". Calling .eval() once in the constructor is "
                    "not enough: model.train() calls .train() on every child again; override train()"
                )
            if wrong:
                return f"after model.train(), {wrong}"
            if returned is not model:
                return (
                    f"model.train() returned {type(returned).__name__}, not the model: nn.Module.train "
                    "returns self, and code such as model.train().to(device) relies on it"
                )
            return None

        def same_features() -> object:
            model = built["model"]
            model.train()
            return _backbone_is_fixed(model, X[:16])

        def training_run() -> object:
            model = built["model"]
            stats, weights = _bn_stats(model.features), _params(model.features)
            head_params = _params(model.head)
            # the common recipe: an optimizer over ALL parameters and model.train() every epoch
            _train(model, X, y, lambda m: m.train(), list(model.parameters()))
            if not _same(weights, _params(model.features)):
                return "the backbone's weights changed during training"
            if not _same(stats, _bn_stats(model.features)):
                return (
                    "the backbone's BatchNorm running statistics moved during training: the "
                    "backbone must stay in eval mode for every training batch"
                )
            if _same(head_params, _params(model.head)):
                return "the head's weights did not change during training"
            return None

        def eval_still_works() -> object:
            model = built["model"]
            returned = model.eval()
            busy = [name or "(model)" for name, m in model.named_modules() if m.training]
            if busy:
                return (
                    f"after model.eval(), {', '.join(busy[:3])} are still in train mode: "
                    "your train() must pass its mode argument on (eval() calls train(False))"
                )
            if returned is not model:
                return f"model.eval() returned {type(returned).__name__}, not the model"
            return None

        def survives_deepcopy() -> object:
            model = built["model"]
            model.eval()
            clone = copy.deepcopy(model)
            clone.train()
            if any(m.training for m in model.modules()):
                return (
                    "after clone = copy.deepcopy(model), clone.train() switched the ORIGINAL "
                    "model's layers to train mode: something stored on the instance still refers "
                    "to the original backbone (a closure is copied as it is, with the old "
                    "references); define the behaviour in the class instead"
                )
            wrong = _wrong_modes(clone)
            if wrong:
                return f"after copy.deepcopy(model) and .train() on the copy: {wrong}"
            return None

        def survives_pickle() -> object:
            model = built["model"]
            try:
                loaded = pickle.loads(pickle.dumps(model))
            except (pickle.PicklingError, AttributeError, TypeError) as exc:
                return (
                    f"the model cannot be pickled (torch.save(model, ...) would fail): {exc}. "
                    "A function defined inside another function and stored on the model cannot "
                    "be pickled; define the class at the top level of a cell and override train() there"
                )
            loaded.train()
            wrong = _wrong_modes(loaded)
            return f"after a pickle round trip and .train(): {wrong}" if wrong else None

        def state_dict_round_trip() -> object:
            model = built["model"]
            fresh = TransferModel(_backbone(), _head())
            fresh.load_state_dict(model.state_dict())
            fresh.train()
            wrong = _wrong_modes(fresh)
            if wrong:
                return f"a new TransferModel that loaded the state_dict, after .train(): {wrong}"
            expected = {f"features.{k}" for k in model.features.state_dict()} | {
                f"head.{k}" for k in model.head.state_dict()
            }
            if set(model.state_dict()) != expected:
                return "the state_dict has other keys than features.* and head.*: keep the two parts as they are"
            return None

        def others_untouched() -> object:
            bystander = _Transfer().train()
            if not all(m.training for m in bystander.modules()):
                return (
                    "a different model's layers now refuse train mode: you changed a torch class "
                    "(such as nn.BatchNorm2d or nn.Sequential) itself; change only TransferModel"
                )
            return None

        return run_checks(
            "2 (TransferModel)",
            [
                ("TransferModel is an nn.Module class", is_a_module_class),
                ("TransferModel(features, head) builds the model", builds),
                ("backbone weights frozen, head weights trainable", weights_frozen),
                ("after model.train(): whole backbone in eval, head in train mode", survives_train),
                ("the backbone gives the same features in train mode", same_features),
                ("a training loop with model.train() each epoch", training_run),
                ("model.eval() still puts everything in eval mode", eval_still_works),
                ("copy.deepcopy: the copy keeps its backbone in eval, the original is untouched", survives_deepcopy),
                ("pickling keeps the behaviour", survives_pickle),
                ("a new model that loads the state_dict behaves the same", state_dict_round_trip),
                ("other models are not affected", others_untouched),
            ],
            hint=(
                "in __init__, call super().__init__(), store the two parts, and switch off "
                "requires_grad on the backbone; then override train(self, mode=True): let "
                "nn.Module's own train do its normal work first, put the backbone back in eval "
                "mode, and return self"
            ),
        )
