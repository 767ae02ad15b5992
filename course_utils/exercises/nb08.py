"""Checkers for notebook 08 · transfer learning: freezing is not eval mode.

* :func:`check_exercise_1`: ``train_unfrozen(model)``, called at the start of
  every epoch instead of ``model.train()``, for *partial* fine-tuning: every
  part of the model whose weights are all frozen (``requires_grad=False``) goes
  to eval mode as a whole, everything else to train mode. Checked on a model
  with another layout than the notebook's (``backbone.stem``, ``backbone.block``,
  ``head``), on the same layers under other names, and on several splits
  between frozen and trainable parts (one of them a single layer three levels
  down).
* :func:`check_exercise_2`: ``FrozenBackbone(backbone)``, a wrapper module that
  keeps a pretrained backbone frozen and in eval mode whatever calls
  ``.train()``, in any model it is put in, through ``copy.deepcopy``, pickling
  and ``load_state_dict``.

The hidden backbones have two ``BatchNorm2d``, a ``Dropout2d`` and a custom
noise layer that reads ``self.training``; the heads have a ``BatchNorm1d`` and a
``Dropout`` of their own (new layers that must keep learning). Failure messages
say what the answer did (the observed modes, statistics, copies) and what was
expected, never the code. The checkers build everything inside a forked random
number generator, so they do not change the random numbers the rest of the
notebook sees.
"""

from __future__ import annotations

import copy
import inspect
import pickle
import types
from collections import OrderedDict
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


def _stem() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout2d(0.3),
        _Jitter(),
    )


def _block() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(4, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


def _backbone() -> nn.Sequential:
    return nn.Sequential(OrderedDict(stem=_stem(), block=_block()))


def _head() -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(24, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(8, 3),
    )


class _Staged(nn.Module):
    """A pretrained-style ``backbone`` (a ``stem`` and a ``block``) and a new ``head``."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = _backbone()
        self.head = _head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def _warm_up(backbone: nn.Module) -> nn.Module:
    """Running statistics estimated on 'old' data, so any drift or reset is visible."""
    backbone.train()
    with torch.no_grad():
        for _ in range(20):
            backbone(torch.rand(32, 1, 8, 8))
    return backbone.eval()


def _new_data() -> tuple[torch.Tensor, torch.Tensor]:
    """'New' data with different input statistics (brighter, more contrast)."""
    return torch.rand(64, 1, 8, 8) * 2 + 0.5, torch.randint(0, 3, (64,))


def _params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _requires_grad(module: nn.Module) -> dict[str, bool]:
    return {name: p.requires_grad for name, p in module.named_parameters()}


def _named(name: str, module: nn.Module, root: str = "the model itself") -> str:
    return f"{name or root} ({type(module).__name__})"


def _listing(names: list[str], modules: dict[str, nn.Module], most: int = 4, root: str = "the model itself") -> str:
    shown = [_named(n, modules[n], root) for n in names[:most]]
    if len(names) > most:
        shown.append(f"{len(names) - most} more")
    return ", ".join(shown)


def _is_random(module: nn.Module) -> bool:
    """Dropout layers and custom layers (classes not from torch.nn): they may read self.training."""
    return isinstance(module, nn.modules.dropout._DropoutNd) or not type(module).__module__.startswith("torch.nn")


def _frozen_parts(model: nn.Module) -> set[str]:
    """Names of every module whose parameters (its layers' included) all have requires_grad=False,
    and of everything inside such a module: the parts that belong in eval mode."""
    frozen: set[str] = set()
    for name, module in model.named_modules():
        params = list(module.parameters())
        if params and not any(p.requires_grad for p in params):
            frozen |= {sub for sub, _ in module.named_modules(prefix=name)}
    return frozen


def _wrong_modes(model: nn.Module, frozen: set[str], where: str = "") -> str:
    """'' if exactly the ``frozen`` modules are in eval mode, else what is wrong, worst first."""
    modules = dict(model.named_modules())
    in_train = [n for n in modules if n in frozen and modules[n].training]
    in_eval = [n for n in modules if n not in frozen and not modules[n].training]
    prefix = f"{where}: " if where else ""
    drifting = [n for n in in_train if isinstance(modules[n], _BN)]
    if drifting:
        return prefix + (
            f"{_listing(drifting, modules)} {'is' if len(drifting) == 1 else 'are'} in train mode, "
            "although every weight of the part around it is frozen: its running statistics "
            "would drift towards the new data"
        )
    # Leaf layers only: a wrapper (say the learner's own module around the backbone) has the
    # weights of what it wraps and changes no features by itself; the generic message fits it.
    random_ones = [n for n in in_train if _is_random(modules[n]) and next(modules[n].children(), None) is None]
    if random_ones:
        return prefix + (
            f"{_listing(random_ones, modules)} {'is' if len(random_ones) == 1 else 'are'} in train "
            "mode inside a frozen part: they have no weights of their own, but they still change "
            "the features on every pass, so the layers after them never see the same input twice. "
            "A frozen part belongs in eval mode as a whole"
        )
    if in_train:
        return prefix + (
            f"{_listing(in_train, modules)} {'is' if len(in_train) == 1 else 'are'} in train mode "
            "inside a frozen part of the model, which belongs in eval mode as a whole"
        )
    if "" in in_eval:
        return prefix + (
            "the model itself reports eval mode (its training flag is False) although parts of it "
            "train; code that asks the model for its mode (a training loop, a logger, a scheduler) "
            "is told the wrong one. Only the frozen parts belong in eval mode"
        )
    off = [n for n in in_eval if isinstance(modules[n], nn.modules.dropout._DropoutNd)]
    if off:
        return prefix + (
            f"{_listing(off, modules)} {'is' if len(off) == 1 else 'are'} in eval mode, so dropout "
            "is off in a part that trains; a layer without weights of its own follows the part "
            "it sits in"
        )
    not_learning = [n for n in in_eval if isinstance(modules[n], _BN)]
    if not_learning:
        return prefix + (
            f"{_listing(not_learning, modules)} {'is' if len(not_learning) == 1 else 'are'} in eval "
            "mode, but its weights train: a BatchNorm layer that trains must also learn its "
            "statistics, in train mode"
        )
    if in_eval:
        return prefix + (
            f"{_listing(in_eval, modules)} {'is' if len(in_eval) == 1 else 'are'} in eval mode, "
            "but not part of a frozen part of the model: only the parts whose weights are all "
            "frozen belong in eval mode"
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


def _same_features(module: nn.Module, X: torch.Tensor, what: str) -> str | None:
    with torch.no_grad():
        if not torch.equal(module(X), module(X)):
            return (
                f"two passes of the same images through {what} gave different features, "
                "so something in it is still in train mode"
            )
    return None


# ---------------------------------------------------------------------------
# Exercise 8.1: train_unfrozen
# ---------------------------------------------------------------------------

_SPLITS = {
    "backbone.stem": "only the stem frozen (the block and the head fine-tune)",
    "backbone": "the whole backbone frozen (only the head trains)",
    "": "nothing frozen (everything fine-tunes)",
    "backbone.stem.1": "only the stem's BatchNorm2d frozen, three levels down (everything else fine-tunes)",
    "encoder.low": "a model with other names (encoder.low, encoder.high, classifier), encoder.low frozen",
}


def _renamed(staged: nn.Module) -> nn.Module:
    """The same layers (copied) under other names: ``encoder.low``, ``encoder.high``, ``classifier``."""
    staged = copy.deepcopy(staged)
    encoder = nn.Sequential(OrderedDict(low=staged.backbone.stem, high=staged.backbone.block))
    return nn.Sequential(OrderedDict(encoder=encoder, classifier=staged.head))


def check_exercise_1(train_unfrozen: Callable[[nn.Module], object]) -> CheckResult:
    """Check ``train_unfrozen(model)``, the per-epoch replacement for ``model.train()``
    when only some parts of a model are frozen."""
    with sandbox(_SEED):
        pristine = _Staged()
        _warm_up(pristine.backbone)
        pristine.eval()
        X, y = _new_data()

        def model_with(frozen: str) -> nn.Module:
            model = _renamed(pristine) if frozen.startswith("encoder") else copy.deepcopy(pristine)
            if frozen:
                model.get_submodule(frozen).requires_grad_(False)
            return model

        def modes_after(frozen: str, prepare: Callable[[nn.Module], object], start: str) -> Callable[[], object]:
            def check() -> object:
                model = model_with(frozen)
                prepare(model)
                grads, expected = _requires_grad(model), _frozen_parts(model)
                train_unfrozen(model)
                where = f"{_SPLITS[frozen]}, called on {start}"
                wrong = _wrong_modes(model, expected, where)
                if wrong:
                    return wrong
                if _requires_grad(model) != grads:
                    return (
                        f"{where}: the call changed which parameters require grad; it should only "
                        "set modes, the frozen weights are given"
                    )
                if not _same(_bn_stats(pristine), _bn_stats(model)):
                    return (
                        f"{where}: the call changed the BatchNorm running statistics (they are no "
                        "longer the pretrained ones); it should only set modes"
                    )
                return None

            return check

        def head_in_eval(model: nn.Module) -> None:
            model.train()
            model.head.eval()

        def gradual_unfreezing() -> object:
            model = model_with("backbone")
            train_unfrozen(model)
            model.backbone.block.requires_grad_(True)  # a later epoch: the block joins the training
            train_unfrozen(model)
            wrong = _wrong_modes(model, _frozen_parts(model))
            if wrong:
                return (
                    "gradual unfreezing (the whole backbone frozen for the first epoch, then the "
                    f"block's weights unfrozen, and your function called again on the same model): {wrong}"
                )
            return None

        def same_features() -> object:
            model = model_with("backbone.stem")
            train_unfrozen(model)
            return _same_features(model.backbone.stem, X[:16], "the frozen stem")

        def training_run() -> object:
            model = model_with("backbone.stem")
            trainable = [p for p in model.parameters() if p.requires_grad]
            pretrained_stats = _bn_stats(pristine.backbone.stem)
            block_stats, head_stats = _bn_stats(model.backbone.block), _bn_stats(model.head)
            head_params = _params(model.head)
            _train(model, X, y, train_unfrozen, trainable)
            if not _same(pretrained_stats, _bn_stats(model.backbone.stem)):
                return (
                    "after three epochs the frozen stem's running statistics are not the "
                    "pretrained ones any more: the stem must be in eval mode for every batch"
                )
            if _same(block_stats, _bn_stats(model.backbone.block)):
                return (
                    "the block fine-tunes, but its BatchNorm2d never updated its statistics in "
                    "three epochs: a part that trains needs train mode"
                )
            if _same(head_stats, _bn_stats(model.head)):
                return "the head's BatchNorm1d never updated its statistics in three epochs"
            if _same(head_params, _params(model.head)):
                return "the head's weights did not change during three epochs of training"
            return None

        split = "backbone.stem"
        return run_checks(
            "8.1 (train_unfrozen)",
            [
                ("train_unfrozen is a function", _is_function(train_unfrozen, "train_unfrozen")),
                ("stem frozen, from eval mode", modes_after(split, lambda m: m.eval(), "a model in eval mode")),
                ("stem frozen, from train mode", modes_after(split, lambda m: m.train(), "a model in train mode")),
                ("stem frozen, from mixed modes", modes_after(split, head_in_eval, "a model whose head is in eval mode")),
                ("whole backbone frozen", modes_after("backbone", lambda m: m.eval(), "a model in eval mode")),
                ("nothing frozen", modes_after("", lambda m: m.eval(), "a model in eval mode")),
                ("one BatchNorm frozen, three levels down", modes_after("backbone.stem.1", lambda m: m.eval(), "a model in eval mode")),
                ("another layout, with other names", modes_after("encoder.low", lambda m: m.train(), "a model in train mode")),
                ("gradual unfreezing: a part unfrozen between two epochs", gradual_unfreezing),
                ("the frozen stem gives the same features on every pass", same_features),
                ("three epochs of training: frozen statistics fixed, the rest learns", training_run),
            ],
            hint=(
                "decide part by part: does this part have weights, and are all of them frozen? "
                "Then it is a fixed feature extractor, in eval mode with everything inside it. "
                "Layers without weights (ReLU, dropout, pooling) follow the part they sit in, and "
                "the model itself trains as long as anything in it trains. Remember that a mode "
                "switch reaches every layer below the module it is called on"
            ),
        )


# ---------------------------------------------------------------------------
# Exercise 8.2: FrozenBackbone
# ---------------------------------------------------------------------------


def _kind(value: object) -> str:
    if getattr(value, "__name__", "") == "<lambda>":
        return "a lambda"
    if isinstance(value, types.MethodType):
        return "a method bound to one object"
    return "a function defined inside another function"


def _unpicklable(model: nn.Module) -> str:
    """What stored on the model's modules cannot be pickled, in words ('' if nothing is found)."""
    for name, module in model.named_modules():
        for attribute, value in vars(module).items():
            candidates = [(value, f"{name}.{attribute}" if name else attribute, "stored on the object")]
            if attribute.endswith("hooks") and isinstance(value, dict):
                candidates = [(hook, name or "the model", "registered as a hook on it") for hook in value.values()]
            for candidate, where, how in candidates:
                if not isinstance(candidate, types.FunctionType | types.MethodType):
                    continue
                try:
                    pickle.dumps(candidate)
                except Exception:  # noqa: BLE001 - any failure means "cannot be pickled"
                    if how.startswith("registered"):
                        return f"{_kind(candidate)} is {how} ({where})"
                    return f"{where} is {_kind(candidate)}, {how}"
    return ""


def check_exercise_2(FrozenBackbone: type) -> CheckResult:  # noqa: N803 - the learner's class
    """Check ``FrozenBackbone(backbone)``: frozen weights, eval mode whatever calls ``.train()``,
    in any model, through ``copy.deepcopy``, pickling and ``load_state_dict``."""
    with sandbox(_SEED):
        X, y = _new_data()
        pristine = _warm_up(_backbone())
        pretrained_stats = _bn_stats(pristine)
        built: dict[str, nn.Module] = {}

        def is_a_module_class() -> object:
            if not (inspect.isclass(FrozenBackbone) and issubclass(FrozenBackbone, nn.Module)):
                return (
                    f"expected a class derived from nn.Module, got {type(FrozenBackbone).__name__}; "
                    "pass the class FrozenBackbone itself, not an instance of it"
                )
            return None

        def builds() -> object:
            backbone = copy.deepcopy(pristine).train()  # as a freshly built model comes: train mode
            wrapper = FrozenBackbone(backbone)
            if getattr(wrapper, "backbone", None) is not backbone:
                return (
                    "FrozenBackbone(backbone) must keep the module it is given as its backbone "
                    "attribute (the same object, not a copy or a container around it)"
                )
            built["wrapper"] = wrapper
            if any(p.requires_grad for p in backbone.parameters()):
                return "some of the backbone's parameters still require grad after FrozenBackbone(backbone)"
            busy = [n for n, m in wrapper.named_modules() if m.training]
            if busy:
                return (
                    f"right after FrozenBackbone(backbone), "
                    f"{_listing(busy, dict(wrapper.named_modules()), root='the FrozenBackbone itself')} "
                    f"{'is' if len(busy) == 1 else 'are'} in train mode: the backbone was handed "
                    "over in train mode, as every newly built module is, and stayed there"
                )
            if not _same(pretrained_stats, _bn_stats(backbone)):
                return "FrozenBackbone(backbone) changed the backbone's running statistics"
            with torch.no_grad():
                if not torch.equal(wrapper(X[:8]), pristine(X[:8])):
                    return "FrozenBackbone(backbone)(x) does not give what the backbone in eval mode gives"
            return None

        def in_a_model() -> object:
            model = nn.Sequential(built["wrapper"], _head())
            built["model"] = model
            for when, switch in (("after model.train()", lambda: model.train()),
                                 ("after model.eval() and model.train() again", lambda: model.eval().train())):
                switch()
                wrong = _wrong_modes(model, {n for n, _ in model.named_modules() if n.startswith("0")})
                if wrong:
                    return f"in a model built as a Sequential of your FrozenBackbone and a new head, {when}: {wrong}"
            return None

        def its_own_train() -> object:
            wrapper = built["wrapper"]
            try:
                returned = wrapper.train(mode=True)
            except TypeError as exc:
                return (
                    f"calling its train method with the mode as a keyword raised TypeError ({exc}): "
                    "code calls nn.Module.train by its parameter name, mode, so keep that name"
                )
            busy = [n for n, m in wrapper.named_modules() if m.training]
            if busy:
                return (
                    f"after the wrapper's own .train(), "
                    f"{_listing(busy, dict(wrapper.named_modules()), root='the FrozenBackbone itself')} "
                    f"{'is' if len(busy) == 1 else 'are'} in train mode"
                )
            if returned is not wrapper:
                return (
                    f"its .train() returned {type(returned).__name__}, not the FrozenBackbone: "
                    "nn.Module.train returns the module itself, and chained calls rely on it"
                )
            returned = wrapper.eval()
            if returned is not wrapper or any(m.training for m in wrapper.modules()):
                return "its .eval() must leave everything in eval mode and return the FrozenBackbone"
            return None

        def eval_still_works() -> object:
            model = built["model"]
            model.eval()
            busy = [name or "the model" for name, m in model.named_modules() if m.training]
            if busy:
                return f"after model.eval(), {', '.join(busy[:3])} {'is' if len(busy) == 1 else 'are'} still in train mode"
            return None

        def same_features() -> object:
            model = built["model"]
            model.train()
            return _same_features(model[0], X[:16], "the FrozenBackbone (its model in train mode)")

        def training_run() -> object:
            model = built["model"]
            weights, head_params = _params(model[0]), _params(model[1])
            # the common recipe: an optimizer over ALL parameters and model.train() every epoch
            _train(model, X, y, lambda m: m.train(), list(model.parameters()))
            if not _same(weights, _params(model[0])):
                return "the backbone's weights changed during training"
            if not _same(pretrained_stats, _bn_stats(model[0])):
                return (
                    "after training, the backbone's BatchNorm running statistics are not the "
                    "pretrained ones any more: it must stay in eval mode for every training batch"
                )
            if _same(head_params, _params(model[1])):
                return "the head's weights did not change during training"
            return None

        def survives_deepcopy() -> object:
            model = built["model"].eval()
            clone = copy.deepcopy(model)
            for module in clone.modules():  # the copy's flags all on, as in a freshly built model
                module.training = True
            clone.train()
            if any(m.training for m in model.modules()):
                return (
                    "after clone = copy.deepcopy(model), clone.train() switched layers of the "
                    "ORIGINAL model to train mode: something stored on the object still refers "
                    "to the original backbone (a copy takes a stored function over as it is, with "
                    "its references to the original)"
                )
            wrong = _wrong_modes(clone, {n for n, _ in clone.named_modules() if n.startswith("0")})
            if wrong:
                return (
                    f"after copy.deepcopy(model) and .train() on the copy: {wrong}. The copy's "
                    "train() did not reach the copy's own layers: does something stored on the "
                    "object still refer to the original?"
                )
            return None

        def survives_pickle() -> object:
            model = built["model"]
            try:
                loaded = pickle.loads(pickle.dumps(model))
            except (pickle.PicklingError, AttributeError, TypeError) as exc:
                culprit = _unpicklable(model)
                return (
                    f"the model cannot be pickled, so torch.save(model, ...) would fail ({exc})"
                    + (f": {culprit}, and pickle stores functions only by their name at the top "
                       "level of a module" if culprit else "")
                )
            loaded.train()
            wrong = _wrong_modes(loaded, {n for n, _ in loaded.named_modules() if n.startswith("0")})
            return f"after a pickle round trip and .train(): {wrong}" if wrong else None

        def state_dict_round_trip() -> object:
            wrapper = built["wrapper"]
            expected = {f"backbone.{k}" for k in pristine.state_dict()}
            if set(wrapper.state_dict()) != expected:
                return (
                    "its state_dict has other keys than the backbone's own, each under backbone.: "
                    "keep the backbone as it is, with nothing added"
                )
            fresh = FrozenBackbone(_backbone())
            fresh.load_state_dict(wrapper.state_dict())
            model = nn.Sequential(fresh, _head()).train()
            wrong = _wrong_modes(model, {n for n, _ in model.named_modules() if n.startswith("0")})
            if wrong:
                return f"a new FrozenBackbone that loaded the state_dict, in a model after .train(): {wrong}"
            return None

        def others_untouched() -> object:
            bystander = _Staged().train()
            if not all(m.training for m in bystander.modules()):
                return (
                    "a different model's layers now refuse train mode: a torch class (such as "
                    "nn.BatchNorm2d or nn.Sequential) was changed itself; change only FrozenBackbone"
                )
            return None

        return run_checks(
            "8.2 (FrozenBackbone)",
            [
                ("FrozenBackbone is an nn.Module class", is_a_module_class),
                ("FrozenBackbone(backbone): frozen, in eval mode, same outputs", builds),
                ("inside a model: model.train() leaves it in eval, the head trains", in_a_model),
                ("its own train() and eval()", its_own_train),
                ("model.eval() still puts everything in eval mode", eval_still_works),
                ("the same features in a model in train mode", same_features),
                ("a training loop with model.train() each epoch", training_run),
                ("copy.deepcopy: the copy stays frozen, the original is untouched", survives_deepcopy),
                ("pickling keeps the behaviour", survives_pickle),
                ("a new FrozenBackbone that loads the state_dict behaves the same", state_dict_round_trip),
                ("other models are not affected", others_untouched),
            ],
            hint=(
                "a parent's train() reaches every child by calling that child's own train method; "
                "what the class does there is what every copy of it does. The wrapper is part of "
                "the frozen backbone too, and has no reason to be in train mode ever"
            ),
        )
