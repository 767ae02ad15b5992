"""Freeze part of a model for transfer learning, BatchNorm statistics included.

Setting ``requires_grad=False`` stops a layer's *weights* from changing, but a
BatchNorm layer in train mode still overwrites its ``running_mean`` and
``running_var`` on every forward pass: the "frozen" backbone drifts towards the
new data. :func:`freeze` fixes both:

* every parameter of the module gets ``requires_grad=False`` (and any stale
  ``.grad`` is dropped, so an optimizer step cannot move it);
* with ``bn_eval=True`` (the default) every normalization layer that keeps
  running statistics (``BatchNorm1d/2d/3d``, ``SyncBatchNorm``, ``InstanceNorm``)
  is put in eval mode and **stays** there when ``model.train()`` is called later.

How the eval mode survives ``model.train()``: ``nn.Module.train(mode)`` sets
``self.training`` and then calls ``child.train(mode)`` on every child. Python
looks a method up on the *instance* before the class, so :func:`freeze` gives
each BatchNorm layer its own ``train`` attribute (an :class:`_EvalLock`) that
always sets ``training=False``. Whatever ancestor is switched with ``.train()``
(the frozen module, its parent, the whole model) or even the layer itself, the
layer ends up in eval mode. Nothing else changes: the other layers, such as a
new head and its dropout, follow ``model.train()``/``model.eval()`` as usual.

:func:`unfreeze` undoes everything :func:`freeze` did inside a module. Both are
idempotent. The lock lives in the instance's ``__dict__``, so it survives
``copy.deepcopy`` and pickling; ``state_dict()`` is unaffected (save and load
weights as usual, then call :func:`freeze` on the new model).
"""

from __future__ import annotations

from typing import TypeVar

from torch import nn

from .modes import check_module

__all__ = ["freeze", "unfreeze", "is_frozen", "frozen_norm_layers", "NORM_WITH_STATS"]

M = TypeVar("M", bound=nn.Module)

#: Layers whose forward pass updates running statistics in train mode.
NORM_WITH_STATS: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._NormBase,)

# Attribute names stored on modules (in their __dict__, not in the state_dict).
_RECORD = "_course_freeze_record"  # on the module freeze() was called on
_LOCK = "train"  # the instance attribute that shadows nn.Module.train


class _EvalLock:
    """Stands in for a normalization layer's ``train`` method: always eval mode.

    ``layer.train(mode)`` accepts the same argument as ``nn.Module.train``
    (and rejects a non-bool the same way), sets ``layer.training = False``
    and returns the layer, so chained calls keep working.
    """

    def __init__(self, layer: nn.Module):
        self.layer = layer

    def __call__(self, mode: bool = True) -> nn.Module:
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.layer.training = False
        for child in self.layer.children():  # norm layers have none, but stay general
            child.train(False)
        return self.layer

    def __repr__(self) -> str:
        return f"<train() of {type(self.layer).__name__} locked to eval mode by course_utils.freeze>"


def _is_locked(layer: nn.Module) -> bool:
    return isinstance(layer.__dict__.get(_LOCK), _EvalLock)


def _lock(layer: nn.Module) -> None:
    if not _is_locked(layer):
        object.__setattr__(layer, _LOCK, _EvalLock(layer))
    layer.training = False


def _unlock(layer: nn.Module, training: bool) -> None:
    if _is_locked(layer):
        del layer.__dict__[_LOCK]
    layer.training = training


def is_frozen(module: nn.Module) -> bool:
    """True if :func:`freeze` was called on ``module`` itself (and not undone)."""
    check_module(module, "module")
    return _RECORD in module.__dict__


def frozen_norm_layers(module: nn.Module) -> list[str]:
    """Names (relative to ``module``) of the normalization layers locked in eval mode."""
    check_module(module, "module")
    return [name or "(module)" for name, m in module.named_modules() if _is_locked(m)]


def freeze(module: M, bn_eval: bool = True) -> M:
    """Freeze ``module``'s weights and, by default, its BatchNorm statistics.

    Args:
        module: the part to freeze, e.g. ``model.features``; may be a submodule of
            a bigger model or the whole model.
        bn_eval: ``True`` (default) keeps every BatchNorm/InstanceNorm layer inside
            ``module`` in eval mode, even after a later ``model.train()``, so its
            running statistics stay as they are. ``False`` only freezes the weights:
            the statistics still move in train mode (the classic pitfall).

    Returns:
        ``module`` itself, so ``freeze(model.features)`` can be used in an expression.

    Raises:
        TypeError: if ``module`` is not an ``nn.Module`` or ``bn_eval`` is not a bool.

    Calling it again is harmless (idempotent); calling it again with a different
    ``bn_eval`` switches the BatchNorm behaviour. :func:`unfreeze` undoes it.
    Parameters or layers added to ``module`` after the call are not frozen.
    """
    check_module(module, "module")
    if not isinstance(bn_eval, bool):
        raise TypeError(f"bn_eval must be True or False, got {bn_eval!r}")
    record = module.__dict__.get(_RECORD)
    if record is None:
        record = {
            "requires_grad": {n: p.requires_grad for n, p in module.named_parameters()},
            "locked": [],
        }
        object.__setattr__(module, _RECORD, record)
    for p in module.parameters():
        p.requires_grad_(False)
        p.grad = None  # a stale gradient would still move it on optimizer.step()
    if bn_eval:
        for name, layer in module.named_modules():
            if isinstance(layer, NORM_WITH_STATS) and not _is_locked(layer):
                _lock(layer)
                record["locked"].append(name)
    else:
        for name in record["locked"]:
            _unlock(module.get_submodule(name), module.training)
        record["locked"] = []
    return module


def unfreeze(module: M) -> M:
    """Undo :func:`freeze` on ``module`` and on every frozen submodule inside it.

    Parameters get back the ``requires_grad`` they had before freezing, and the
    locked BatchNorm layers follow ``.train()``/``.eval()`` again, starting in the
    mode of the module that was frozen. A module that is not frozen is returned
    unchanged, so calling this twice is harmless.

    Raises:
        TypeError: if ``module`` is not an ``nn.Module``.
    """
    check_module(module, "module")
    for owner in module.modules():  # outer modules first, so inner records win
        record = owner.__dict__.pop(_RECORD, None)
        if record is None:
            continue
        params = dict(owner.named_parameters())
        for name, flag in record["requires_grad"].items():
            if name in params:
                params[name].requires_grad_(flag)
        for name in record["locked"]:
            _unlock(owner.get_submodule(name), owner.training)
    return module
