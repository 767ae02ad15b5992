"""Freeze part of a model for transfer learning: its weights *and* its mode.

Setting ``requires_grad=False`` stops a layer's *weights* from changing, but it
does not touch the mode. The next ``model.train()`` puts the "frozen" part back
in train mode: its BatchNorm layers overwrite ``running_mean`` and
``running_var`` with every batch (the backbone drifts towards the new data),
and its dropout layers (``Dropout2d`` in a CNN backbone, or any custom layer
that reads ``self.training``) keep dropping features, so the head sees a
different backbone on every pass. :func:`freeze` fixes both:

* every parameter of the module gets ``requires_grad=False`` (and any stale
  ``.grad`` is dropped, so an optimizer step cannot move it);
* with ``keep_eval="all"`` (the default) the frozen part **as a whole** is put
  in eval mode and **stays** there when ``model.train()`` is called later: every
  layer inside it, whatever its type. This is PyTorch's version of Keras's
  ``base_model(x, training=False)``, and it is what "a fixed feature extractor"
  means: the same input always gives the same features.

Two explicit opt-outs, for experiments:

* ``keep_eval="norm"``: only the normalization layers with running statistics
  (``BatchNorm1d/2d/3d``, ``SyncBatchNorm``, ``InstanceNorm`` with
  ``track_running_stats=True``) stay in eval; the backbone's dropout and custom
  layers follow ``model.train()``, so the backbone stays random in training.
* ``keep_eval="none"``: weights only; every layer follows ``.train()``/``.eval()``
  as usual (the classic pitfall, when you want to show or measure it).

How the eval mode survives ``model.train()``: ``nn.Module.train(mode)`` sets
``self.training`` and then calls ``child.train(mode)`` on every child. Python
looks a method up on the *instance* before the class, so :func:`freeze` gives
each locked layer its own ``train`` attribute (an :class:`_EvalLock`) that
always sets ``training=False``. Whatever ancestor is switched with ``.train()``
(the frozen module, its parent, the whole model) or even a layer itself, the
locked layers end up in eval mode. Nothing outside the frozen module changes:
a new head and its dropout follow ``model.train()``/``model.eval()`` as usual.

The lock is an object stored in the layer's ``__dict__`` that refers to the
layer (not a closure over it), so ``copy.deepcopy`` gives the copy a lock of its
own that switches the *copy* (the original is never touched), and pickling
(``torch.save(model)``) keeps it. ``state_dict()`` holds no modes at all: save
and load weights as usual, then call :func:`freeze` on the new model.

:func:`unfreeze` undoes everything :func:`freeze` did inside a module: each
unlocked layer takes the mode of the layer it sits in, and the module you
unfreeze keeps the mode it is in. So it can switch modes: after
``freeze(model.features); model.train(); unfreeze(model)`` the whole backbone
is in train mode (it takes the model's mode), and after
``freeze(model.features, keep_eval="norm"); model.train();
unfreeze(model.features)`` the backbone's BatchNorm layers are in train mode
(they take the mode of ``features``, which was not locked). Unfreezing the
module that was locked (``unfreeze(model.features)`` after a plain
``freeze(model.features)``) leaves it and everything inside it in eval mode
until the next ``model.train()`` or ``model.eval()``. Both functions are
idempotent.

What the lock does not cover (by design, or because Python cannot see it):

* ``module.requires_grad_(True)`` by hand makes the weights trainable again but
  leaves the modes locked, and :func:`is_frozen` still says ``True``: use
  :func:`unfreeze`, which undoes both.
* Code that sets ``layer.training = True`` directly, or calls the class's method
  on a layer (``nn.Module.train(layer, True)``), bypasses the lock for that one
  layer; the layers below it stay locked.
* ``copy.copy(layer)`` (a *shallow* copy) shares the lock with the original, as
  it shares the parameters and buffers: use ``copy.deepcopy``.
* ``reset_running_stats()`` on a locked normalization layer raises instead of
  wiping the pretrained statistics. Tools that reset and re-estimate
  statistics, such as ``torch.optim.swa_utils.update_bn``, would otherwise
  leave them at mean 0 and variance 1 for good (the layer never re-estimates
  them in eval mode): unfreeze first if that is what you want.
* :func:`unfreeze` must be called on the module that was frozen (or one that
  contains it); called on a layer *inside* a frozen module, it raises. So does
  :func:`freeze` (a layer inside a frozen part is frozen already, and a second
  record there would keep its weights frozen after the part is unfrozen).
* Layers added to a frozen module after :func:`freeze` get no lock and keep
  trainable weights, and :func:`frozen_eval_layers` does not list them. Their
  mode depends on their parent: below a locked layer (``keep_eval="all"``)
  they are switched to eval mode by every ``.train()``, because the parent's
  lock calls ``child.train(False)`` on all its children; below an unlocked one
  they follow ``.train()``. Call :func:`freeze` again to freeze them too.
"""

from __future__ import annotations

from typing import TypeVar

from torch import nn

from .checks import check_module

__all__ = [
    "freeze",
    "unfreeze",
    "is_frozen",
    "frozen_eval_layers",
    "frozen_norm_layers",
    "KEEP_EVAL",
    "NORM_WITH_STATS",
]

M = TypeVar("M", bound=nn.Module)

#: Layers whose forward pass updates running statistics in train mode.
NORM_WITH_STATS: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._NormBase,)

#: The choices of ``freeze(..., keep_eval=...)``: which layers of the frozen part stay in eval mode.
KEEP_EVAL = ("all", "norm", "none")

# Attribute names stored on modules (in their __dict__, not in the state_dict).
_RECORD = "_course_freeze_record"  # on the module freeze() was called on
_INSIDE = "_course_frozen_inside"  # on every module below it
_LOCK = "train"  # the instance attribute that shadows nn.Module.train
_GUARD = "reset_running_stats"  # ... and the one that shadows _NormBase.reset_running_stats


class _EvalLock:
    """Stands in for a locked layer's ``train`` method: always eval mode.

    ``layer.train(mode)`` accepts the same argument as ``nn.Module.train``
    (and rejects a non-bool the same way), sets ``layer.training = False``,
    switches the children with ``child.train(False)`` and returns the layer,
    so chained calls keep working. It holds the layer as an attribute, so
    ``copy.deepcopy`` and pickling give a copy whose lock refers to the copy.
    """

    def __init__(self, layer: nn.Module):
        self.layer = layer

    def __call__(self, mode: bool = True) -> nn.Module:
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.layer.training = False
        for child in self.layer.children():
            child.train(False)
        return self.layer

    def __repr__(self) -> str:
        return f"<train() of {type(self.layer).__name__} locked to eval mode by course_utils.freeze>"


class _StatsGuard:
    """Stands in for a locked normalization layer's ``reset_running_stats``: refuses.

    A reset would replace the pretrained statistics with mean 0 and variance 1,
    and a layer locked in eval mode never re-estimates them.
    """

    def __init__(self, layer: nn.Module):
        self.layer = layer

    def __call__(self) -> None:
        raise RuntimeError(
            f"this {type(self.layer).__name__} is frozen by course_utils.freeze: its running "
            "statistics are part of the pretrained backbone, and in eval mode it would never "
            "re-estimate them after a reset (torch.optim.swa_utils.update_bn, for one, resets "
            "every BatchNorm it finds). Call unfreeze() on the frozen module first if you "
            "really want new statistics"
        )


def _is_locked(layer: nn.Module) -> bool:
    return isinstance(layer.__dict__.get(_LOCK), _EvalLock)


def _lock(layer: nn.Module) -> None:
    if not _is_locked(layer):
        object.__setattr__(layer, _LOCK, _EvalLock(layer))
        if isinstance(layer, NORM_WITH_STATS):
            object.__setattr__(layer, _GUARD, _StatsGuard(layer))
    layer.training = False


def _unlock_layers(root: nn.Module, names: set[str]) -> None:
    """Unlock the layers of ``root`` named in ``names``: each takes its parent's mode.

    ``root`` itself (name ``""``) keeps its current mode. Parents come before
    their children in ``named_modules()``, so a parent's mode is settled first.
    """
    modules = dict(root.named_modules())
    for name, layer in modules.items():
        if name not in names:
            continue
        for attribute, kind in ((_LOCK, _EvalLock), (_GUARD, _StatsGuard)):
            if isinstance(layer.__dict__.get(attribute), kind):
                del layer.__dict__[attribute]
        if name:
            layer.training = modules[name.rpartition(".")[0]].training


def _to_lock(module: nn.Module, keep_eval: str) -> list[str]:
    if keep_eval == "all":
        return [name for name, _ in module.named_modules()]
    if keep_eval == "norm":
        return [name for name, m in module.named_modules() if isinstance(m, NORM_WITH_STATS)]
    return []


def is_frozen(module: nn.Module) -> bool:
    """True if :func:`freeze` was called on ``module`` itself and not undone by :func:`unfreeze`.

    Turning ``requires_grad`` back on by hand does not undo a freeze (the modes
    stay locked), so it does not change this answer either.
    """
    check_module(module, "module")
    return _RECORD in module.__dict__


def frozen_eval_layers(module: nn.Module) -> list[str]:
    """Names (relative to ``module``) of all layers locked in eval mode by :func:`freeze`.

    ``"(module)"`` stands for ``module`` itself. A layer added to a frozen module
    after :func:`freeze` is not listed (it has no lock of its own), even though
    a locked parent keeps switching it to eval mode.
    """
    check_module(module, "module")
    return [name or "(module)" for name, m in module.named_modules() if _is_locked(m)]


def frozen_norm_layers(module: nn.Module) -> list[str]:
    """Names (relative to ``module``) of the normalization layers locked in eval mode."""
    check_module(module, "module")
    return [
        name or "(module)"
        for name, m in module.named_modules()
        if _is_locked(m) and isinstance(m, NORM_WITH_STATS)
    ]


def freeze(module: M, keep_eval: str = "all") -> M:
    """Freeze ``module``'s weights and keep it in eval mode through any later ``.train()``.

    Args:
        module: the part to freeze, e.g. ``model.features``; may be a submodule of
            a bigger model or the whole model.
        keep_eval: which layers inside ``module`` stay in eval mode, even after a
            later ``model.train()``:

            * ``"all"`` (default): all of them, so the frozen part computes the
              same features for the same input (BatchNorm uses and keeps its
              running statistics, dropout is off, custom layers see
              ``training=False``);
            * ``"norm"``: only BatchNorm/InstanceNorm layers with running
              statistics; dropout inside ``module`` still follows ``.train()``;
            * ``"none"``: no layer; only the weights are frozen (the pitfall).

    Returns:
        ``module`` itself, so ``freeze(model.features)`` can be used in an expression.

    Raises:
        TypeError: if ``module`` is not an ``nn.Module`` or ``keep_eval`` is not a string.
        ValueError: if ``keep_eval`` is not one of ``"all"``, ``"norm"``, ``"none"``,
            or if ``module`` is a layer *inside* a module frozen earlier (it is
            frozen already; freeze or unfreeze the outer module instead).

    Calling it again is harmless (idempotent); calling it again with another
    ``keep_eval`` switches to that behaviour. :func:`unfreeze` undoes it.
    Parameters or layers added to ``module`` after the call are not frozen and
    not locked themselves, but a layer added below a locked one is switched to
    eval mode by the parent's lock whenever ``.train()`` runs (see the module
    docstring); call :func:`freeze` again to include them.
    """
    check_module(module, "module")
    if not isinstance(keep_eval, str):
        raise TypeError(
            f"keep_eval must be one of {', '.join(map(repr, KEEP_EVAL))} (a string), "
            f"got {type(keep_eval).__name__} {keep_eval!r}"
        )
    if keep_eval not in KEEP_EVAL:
        raise ValueError(
            f"keep_eval must be one of {', '.join(map(repr, KEEP_EVAL))}, got {keep_eval!r}: "
            "'all' keeps the whole frozen part in eval mode, 'norm' only its BatchNorm layers, "
            "'none' none of them"
        )
    if module.__dict__.get(_INSIDE):
        raise ValueError(
            f"this {type(module).__name__} is a layer inside a module frozen with freeze(): its "
            "weights are frozen already, and freezing it again on its own would keep them frozen "
            "after the outer module is unfrozen; call freeze() or unfreeze() on the module you "
            "passed to freeze() (for example model.features) instead"
        )
    record = module.__dict__.get(_RECORD)
    if record is None:
        record = {
            "requires_grad": {n: p.requires_grad for n, p in module.named_parameters()},
            "locked": [],
        }
        object.__setattr__(module, _RECORD, record)
    for name, sub in module.named_modules():
        if name:
            object.__setattr__(sub, _INSIDE, True)
    for p in module.parameters():
        p.requires_grad_(False)
        p.grad = None  # a stale gradient would still move it on optimizer.step()
    wanted = _to_lock(module, keep_eval)
    # switching to a weaker keep_eval: the layers no longer locked follow their parent
    _unlock_layers(module, set(record["locked"]) - set(wanted))
    for name in wanted:
        _lock(module.get_submodule(name))
    record["locked"] = wanted
    return module


def unfreeze(module: M) -> M:
    """Undo :func:`freeze` on ``module`` and on every frozen submodule inside it.

    Parameters get back the ``requires_grad`` they had before freezing, and the
    locked layers follow ``.train()``/``.eval()`` again. Every unlocked layer
    takes the mode of the layer it sits in, and ``module`` keeps its own (eval
    mode, if it was locked), so the model is never left with a part in train
    mode inside a module in eval mode. That can switch layers to train mode:
    ``unfreeze(model)`` after ``freeze(model.features)`` and ``model.train()``
    puts the backbone in train mode, like the model around it; with
    ``keep_eval="norm"``, ``unfreeze(model.features)`` puts the BatchNorm layers
    in the mode of ``features``. The next ``model.train()`` or ``model.eval()``
    sets the modes as usual. A module that
    is not frozen is returned unchanged, so calling this twice is harmless.

    Raises:
        TypeError: if ``module`` is not an ``nn.Module``.
        ValueError: if ``module`` is a layer *inside* a frozen module: unfreezing
            a part of a frozen module would leave the rest of it half locked;
            unfreeze the module that was passed to :func:`freeze` instead.
    """
    check_module(module, "module")
    if module.__dict__.get(_INSIDE):
        raise ValueError(
            f"this {type(module).__name__} is a layer inside a module frozen with freeze(), "
            "not the frozen module itself; call unfreeze() on the module you passed to freeze() "
            "(for example model.features), or on a module that contains it"
        )
    owners = [m for m in module.modules() if _RECORD in m.__dict__]  # outer modules first
    if not owners:
        return module
    for owner in owners:  # inner records come later and win
        params = dict(owner.named_parameters())
        for name, flag in owner.__dict__.pop(_RECORD)["requires_grad"].items():
            if name in params:
                params[name].requires_grad_(flag)
    _unlock_layers(module, {name for name, m in module.named_modules() if _is_locked(m)})
    for sub in module.modules():
        sub.__dict__.pop(_INSIDE, None)
    return module
