"""Helpers for notebook 09 (PyTorch vs Keras): a spy layer and the measured comparison table.

* :class:`TrainingSpy` -- a pass-through Keras layer that records, for every
  call, the ``training`` value it received, whether torch's gradient tracking
  was on, and the number of rows (a :class:`SpyCall`).
* :func:`comparison_table` -- the notebook's PyTorch-vs-Keras table as
  Markdown, built from the ``measured`` dictionary its cells fill in.

Keras is imported only when :class:`TrainingSpy` is first used, so importing
this module (and ``course_utils``) stays light and works without Keras. When
Keras has not been imported yet, the PyTorch backend is selected first
(``KERAS_BACKEND=torch``), as notebook 09 does.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any, NamedTuple

# TrainingSpy is created on first use (module __getattr__), so that importing this module
# does not import Keras.
__all__ = ["SpyCall", "TrainingSpy", "comparison_table", "REQUIRED", "import_keras"]  # noqa: F822


class SpyCall(NamedTuple):
    """One call of a :class:`TrainingSpy`: what it received and how it ran."""

    training: bool | None
    grad_enabled: bool
    rows: int


def import_keras() -> ModuleType:
    """Import Keras 3, on the PyTorch backend unless a backend was already chosen."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        return importlib.import_module("keras")
    except ImportError as exc:  # e.g. the TensorFlow backend selected but not installed
        raise ImportError(
            "this helper needs Keras 3 with an installed backend: `pip install keras` and set "
            "os.environ['KERAS_BACKEND'] = 'torch' before the first `import keras`"
        ) from exc


def _make_spy_class() -> type:
    keras = import_keras()
    import torch

    class TrainingSpy(keras.layers.Layer):
        """Returns its input unchanged and records a :class:`SpyCall` for every call.

        ``spy.calls`` is the list of calls (clear it with ``spy.calls.clear()``);
        ``spy.received`` the distinct ``training`` values, in the order first seen.
        Keras's shape-only passes (symbolic tensors, and the trace on torch's
        ``meta`` device that Keras runs before ``fit``) are not recorded.
        """

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.calls: list[SpyCall] = []

        def call(self, x, training=None):
            rows = x.shape[0]
            if isinstance(rows, int) and getattr(getattr(x, "device", None), "type", "") != "meta":
                self.calls.append(SpyCall(training, torch.is_grad_enabled(), rows))
            return x

        def compute_output_shape(self, input_shape):
            return input_shape

        @property
        def received(self) -> list[bool | None]:
            return list(dict.fromkeys(c.training for c in self.calls))

    TrainingSpy.__module__ = __name__
    return TrainingSpy


_CLASSES: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    if name == "TrainingSpy":
        if name not in _CLASSES:
            _CLASSES[name] = _make_spy_class()
        return _CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: The entries :func:`comparison_table` reads, per framework.
REQUIRED = {
    "PyTorch": (
        "flag_after_eval", "default_flag", "default_differs", "dropout_train", "dropout_eval",
        "bn_train", "bn_eval", "frozen_bn", "nested_overridden", "repr_shows_mode", "val_repeat",
    ),
    "Keras": (
        "eval_ignored", "flag_after_loops", "default_seen", "default_is_inference",
        "wrapped_default_differs", "dropout_train", "dropout_eval", "bn_train", "bn_eval",
        "frozen_bn", "nested_overridden", "call_time_wins", "fit", "evaluate", "evaluate_grad",
        "summary_shows_mode", "val_repeat",
    ),
}


def _yes(flag: object) -> str:
    return "yes" if flag else "no"


def _check_measured(measured: object) -> None:
    if not isinstance(measured, dict):
        raise TypeError(
            f"comparison_table needs the dictionary `measured` ({{'PyTorch': {{...}}, 'Keras': {{...}}}}), "
            f"got {type(measured).__name__}"
        )
    missing = [
        f"{framework}/{key}"
        for framework, keys in REQUIRED.items()
        for key in keys
        if not isinstance(measured.get(framework), dict) or key not in measured[framework]
    ]
    if missing:
        raise ValueError(
            f"`measured` lacks {', '.join(missing)}: run the notebook's cells above, in order, "
            "before building the table"
        )


def comparison_table(measured: dict[str, dict[str, Any]]) -> str:
    """The PyTorch-vs-Keras comparison as a Markdown table, every entry from ``measured``.

    ``measured["PyTorch"]`` and ``measured["Keras"]`` hold the notebook's
    measurements under the keys listed in :data:`REQUIRED`; a missing one
    raises ``ValueError`` naming it.
    """
    _check_measured(measured)
    p, k = measured["PyTorch"], measured["Keras"]
    fit_train, fit_val = k["fit"]
    rows = [
        (
            "how you choose the mode",
            f"state: `model.train()` / `model.eval()` (after `eval()`, `model.training` = "
            f"{p['flag_after_eval']})",
            "argument: `model(x, training=True/False)` on every call; Keras's layers read no "
            f"stored flag (`model.eval()` is ignored, dropout still active after it: "
            f"{_yes(k['eval_ignored'])}; `fit`/`evaluate`/`predict` leave the inherited "
            f"`model.training` = {k['flag_after_loops']})",
        ),
        (
            "default when called directly (measured)",
            f"train mode: a new model has `training` = {p['default_flag']}, two calls differ: "
            f"{_yes(p['default_differs'])}",
            f"Keras's layers: inference (they receive `training={k['default_seen']}`, or their "
            f"own default `False` (Dropout), same as `training=False`: "
            f"{_yes(k['default_is_inference'])}); a wrapped PyTorch module "
            f"(`TorchModuleWrapper`) runs in train mode, two calls differ: "
            f"{_yes(k['wrapped_default_differs'])}",
        ),
        ("dropout: two calls differ in train mode (measured)",
         _yes(p["dropout_train"]), _yes(k["dropout_train"])),
        ("dropout: two calls differ in inference mode (measured)",
         _yes(p["dropout_eval"]), _yes(k["dropout_eval"])),
        ("BN statistics updated by a training call (measured)", _yes(p["bn_train"]), _yes(k["bn_train"])),
        ("BN statistics updated by an inference call (measured)", _yes(p["bn_eval"]), _yes(k["bn_eval"])),
        (
            "frozen weights also freeze BN statistics? (measured)",
            f"{_yes(p['frozen_bn'][0] == 0)}: with `requires_grad=False` the running mean moved "
            f"by {p['frozen_bn'][0]:.3f}; keep BN in `eval()` too",
            f"{_yes(k['frozen_bn'][0] == 0)}: with `trainable=False` BN runs in inference mode "
            "even with `training=True`",
        ),
        (
            "a `training=` set on a part, then a training call of the whole (measured)",
            f"outer wins: after `model.train()` a base set to `eval()` is in train mode: "
            f"{_yes(p['nested_overridden'])}; call `base.eval()` after every `train()`",
            f"outer wins in a functional graph: `base(x, training=False)` received "
            f"`training={k['nested_overridden']}`; passed inside `call()` it wins: "
            f"{_yes(k['call_time_wins'])}",
        ),
        (
            "what the built-in loops do (measured in Keras)",
            "no built-in `fit`: your loop calls `train()`, `eval()` and `inference_mode()`",
            f"`fit` passes `training={fit_train[0]}` (grad on), `training={fit_val[0]}` for "
            f"validation; `evaluate`/`predict` pass `training={k['evaluate'][0]}` with grad "
            f"{'on' if k['evaluate_grad'][0] else 'off'}",
        ),
        (
            "`print(model)` / `summary()` shows the mode (measured)",
            f"{_yes(p['repr_shows_mode'])}: read `model.training` or `mode_report(model)`",
            f"{_yes(k['summary_shows_mode'])}: there is no mode to show; `trainable` is about freezing",
        ),
        (
            "validation step gives the same numbers twice (measured)",
            f"{_yes(p['val_repeat'])}, with `eval()` + `inference_mode()`, then the previous "
            "modes back",
            f"{_yes(k['val_repeat'])}, with `model(x, training=False)` (+ `no_grad()` on this backend)",
        ),
    ]
    return "| | PyTorch | Keras 3 |\n|---|---|---|\n" + "\n".join(
        f"| {row} | {torch_cell} | {keras_cell} |" for row, torch_cell, keras_cell in rows
    )
