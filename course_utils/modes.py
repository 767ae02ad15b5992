"""Inspect and control train/eval mode.

* :func:`mode_report` lists every submodule with its ``training`` flag and
  whether its forward pass behaves differently in the two modes.
* :func:`eval_mode` / :func:`train_mode` switch a model for the length of a
  ``with`` block and then restore every submodule's flag exactly (mixed modes
  included), even when the block raises.
* :func:`preserved_state` restores modes *and* the grad-enabled switch; every
  helper in this package that runs a model for display uses it.
"""

from __future__ import annotations

import html
import inspect
import re
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from .checks import check_module  # re-exported: it has always been importable from here
from .runtime import get_device, set_seed

__all__ = [
    "ModeRow",
    "ModeReport",
    "mode_report",
    "mode_dependence",
    "snapshot_modes",
    "restore_modes",
    "eval_mode",
    "train_mode",
    "preserved_state",
    "check_module",
    "require_mode",
    "set_seed",
    "get_device",
]

#: Why a module with no dropout can still give slightly different numbers in eval mode.
_FAST_PATH = "eval mode with grad off may use a fused kernel, so the last digits can differ"

_DROPOUT_F = re.compile(r"\b(?:F|functional|nn\.functional)\.(?:dropout\w*|alpha_dropout)\s*\(")


# ---------------------------------------------------------------------------
# Which modules depend on the mode?
# ---------------------------------------------------------------------------


def _code_reads_training(code: types.CodeType) -> bool:
    """True if ``code`` (or a nested function/comprehension in it) reads ``.training``."""
    if "training" in code.co_names:
        return True
    return any(isinstance(c, types.CodeType) and _code_reads_training(c) for c in code.co_consts)


def _is_torch_class(cls: type) -> bool:
    return cls.__module__.split(".")[0] == "torch"


def _custom_forward(module: nn.Module):
    """The ``forward`` function if it is defined outside torch itself, else ``None``."""
    for cls in type(module).__mro__:
        if "forward" in cls.__dict__:
            if _is_torch_class(cls):
                return None
            forward = cls.__dict__["forward"]
            forward = getattr(forward, "__func__", forward)  # staticmethod/classmethod
            try:
                return inspect.unwrap(forward)  # see through functools.wraps decorators
            except ValueError:  # a wrapper cycle
                return forward
    return None


def _dropout_without_training(func) -> bool:
    """True if ``func``'s source calls ``F.dropout(...)`` in a way that drops in eval mode too.

    That is a call that passes neither ``training=self.training`` nor ``False``:
    ``F.dropout(x, p)`` (``training`` defaults to ``True``) or ``training=True``.
    """
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        return False
    for match in _DROPOUT_F.finditer(source):
        depth, end = 0, match.end() - 1
        for end in range(match.end() - 1, len(source)):
            depth += {"(": 1, ")": -1}.get(source[end], 0)
            if depth == 0:
                break
        args = source[match.end() : end]
        reads_mode = re.search(r"\btraining\b(?!\s*=\s*True\b)", args)
        if not reads_mode and not re.search(r"\bFalse\b", args):
            return True
    return False


def mode_dependence(module: nn.Module) -> tuple[bool, str]:
    """Whether ``module``'s *own* forward behaves differently in train and eval mode.

    Returns ``(depends, reason)``. Children are not looked at here; see
    :func:`mode_report` for the whole tree.
    """
    return _mode_dependence(check_module(module, "module"))


def _mode_dependence(module: nn.Module) -> tuple[bool, str]:
    """:func:`mode_dependence` of a checked module."""
    if isinstance(module, nn.modules.dropout._DropoutNd):
        if module.p > 0:
            return True, f"drops with p={module.p:g} in train mode, identity in eval mode"
        return False, "p=0: never drops"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        if module.track_running_stats:
            return True, "train: batch statistics (and updates running stats); eval: running stats"
        return False, "track_running_stats=False: batch statistics in both modes"
    if isinstance(module, nn.modules.instancenorm._InstanceNorm):
        if module.track_running_stats:
            return True, "train: per-instance statistics; eval: running stats"
        return False, "per-instance statistics in both modes"
    if isinstance(module, nn.RReLU):
        return True, "train: random negative slope; eval: fixed slope (lower+upper)/2"
    if isinstance(module, nn.RNNBase):
        if module.dropout > 0 and module.num_layers > 1:
            return True, f"dropout={module.dropout:g} between its {module.num_layers} layers"
        if module.dropout > 0:
            return False, "dropout>0 but num_layers=1: PyTorch applies no dropout"
        return False, "dropout=0"
    if isinstance(module, nn.MultiheadAttention):
        if module.dropout > 0:
            return True, f"attention dropout p={module.dropout:g} in train mode"
        return False, f"dropout=0; {_FAST_PATH}"
    if isinstance(module, nn.TransformerEncoderLayer):
        return False, _FAST_PATH
    forward = _custom_forward(module)
    code = getattr(forward, "__code__", None)
    if code is not None:
        if _code_reads_training(code):
            return True, "custom forward reads self.training"
        if _dropout_without_training(forward):
            return False, "calls F.dropout without training=self.training: drops in BOTH modes"
    return False, ""


@dataclass(frozen=True)
class ModeRow:
    """One submodule in a :class:`ModeReport`."""

    path: str  #: dotted name, ``""`` for the model itself
    class_name: str
    training: bool
    depends_on_mode: bool  #: its own forward changes with the mode
    reason: str
    affected: bool  #: it, or something inside it, changes with the mode

    @property
    def mode(self) -> str:
        return "train" if self.training else "eval"


class ModeReport:
    """The result of :func:`mode_report`: data for code, a table for people."""

    def __init__(self, rows: list[ModeRow]):
        self.rows = rows

    def __iter__(self) -> Iterator[ModeRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, path: str) -> ModeRow:
        for row in self.rows:
            if row.path == path:
                return row
        raise KeyError(f"no submodule called {path!r}; paths are {[r.path for r in self.rows]}")

    @property
    def mixed(self) -> bool:
        """True when some submodules are in train mode and others in eval mode."""
        return len({row.training for row in self.rows}) > 1

    @property
    def dependent(self) -> list[ModeRow]:
        """The rows whose own behaviour depends on the mode."""
        return [row for row in self.rows if row.depends_on_mode]

    def summary(self) -> str:
        n_train = sum(row.training for row in self.rows)
        n_eval = len(self.rows) - n_train
        dep = ", ".join(f"{r.path or '(model)'} ({r.class_name})" for r in self.dependent)
        state = "MIXED modes" if self.mixed else ("all in train mode" if n_train else "all in eval mode")
        return (
            f"{len(self.rows)} modules, {state} ({n_train} train, {n_eval} eval). "
            f"Mode-dependent: {dep or 'none'}."
        )

    def _table(self) -> list[tuple[str, str, str, str]]:
        out = []
        for row in self.rows:
            depth = row.path.count(".") + (1 if row.path else 0)
            name = "  " * depth + (row.path.rsplit(".", 1)[-1] if row.path else "(model)")
            if row.depends_on_mode:
                dep = "YES: " + row.reason
            elif row.affected:
                dep = "via submodules" + (f"; {row.reason}" if row.reason else "")
            else:
                dep = "no: " + row.reason if row.reason else "no"
            out.append((name, row.class_name, row.mode, dep))
        return out

    def __str__(self) -> str:
        header = ("module", "class", "mode", "depends on mode?")
        table = [header, *self._table()]
        widths = [max(len(r[i]) for r in table) for i in range(3)]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(r[:3], widths, strict=True)) + "  " + r[3]
            for r in table
        ]
        lines.insert(1, "-" * len(lines[0]))
        return "\n".join(lines + ["", self.summary()])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from .style import EVAL_COLOR, TRAIN_COLOR  # the course's colours for the two modes

        cells = []
        for name, cls, mode, dep in self._table():
            colour = TRAIN_COLOR if mode == "train" else EVAL_COLOR
            cells.append(
                "<tr>"
                f"<td style='text-align:left;white-space:pre;font-family:monospace'>{html.escape(name)}</td>"
                f"<td style='text-align:left'>{html.escape(cls)}</td>"
                f"<td style='text-align:left;color:{colour};font-weight:bold'>{mode}</td>"
                f"<td style='text-align:left'>{html.escape(dep)}</td>"
                "</tr>"
            )
        return (
            "<table><thead><tr><th>module</th><th>class</th><th>mode</th>"
            "<th>depends on mode?</th></tr></thead><tbody>"
            + "".join(cells)
            + f"</tbody></table><p>{html.escape(self.summary())}</p>"
        )


def mode_report(model: nn.Module) -> ModeReport:
    """Report every submodule's ``training`` flag and whether it depends on the mode.

    Works on any ``nn.Module``: built-in layers are judged by what PyTorch does
    (Dropout with p>0, BatchNorm/InstanceNorm tracking running stats, RReLU,
    RNN/LSTM/GRU with dropout between layers, MultiheadAttention with dropout);
    modules written outside torch are judged by whether their ``forward`` reads
    ``self.training``. A module that contains mode-dependent submodules is
    marked ``affected``.

    In a notebook the report renders as a table; in code, iterate over its rows.
    """
    check_module(model)
    named = list(model.named_modules(remove_duplicate=False))
    own = {id(m): _mode_dependence(m) for _, m in named}
    affected: dict[int, bool] = {}

    def walk(module: nn.Module) -> bool:
        key = id(module)
        if key not in affected:
            affected[key] = False  # guards against cycles
            kids = [walk(child) for child in module.children()]
            affected[key] = own[key][0] or any(kids)
        return affected[key]

    walk(model)
    rows = [
        ModeRow(
            path=path,
            class_name=type(m).__name__,
            training=m.training,
            depends_on_mode=own[id(m)][0],
            reason=own[id(m)][1],
            affected=affected[id(m)],
        )
        for path, m in named
    ]
    return ModeReport(rows)


# ---------------------------------------------------------------------------
# Switching modes safely
# ---------------------------------------------------------------------------

Snapshot = list[tuple[nn.Module, bool]]


def snapshot_modes(model: nn.Module) -> Snapshot:
    """Record the ``training`` flag of every submodule (for :func:`restore_modes`)."""
    return _snapshot(check_module(model))


def _snapshot(model: nn.Module) -> Snapshot:
    """:func:`snapshot_modes` of a checked module."""
    return [(m, m.training) for m in model.modules()]


def restore_modes(snapshot: Snapshot) -> None:
    """Put every submodule back to the flag recorded by :func:`snapshot_modes`.

    Flags are set directly, not through ``.train()``, so mixed modes and
    modules that override ``train()`` come back exactly as they were.
    """
    for module, flag in snapshot:
        module.training = flag


@contextmanager
def _switched(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    snapshot = _snapshot(model)
    try:
        model.train(training)
        yield model
    finally:
        restore_modes(snapshot)


def eval_mode(model: nn.Module):
    """``with eval_mode(model):`` runs the block in eval mode, then restores every flag."""
    return _switched(check_module(model), False)


def train_mode(model: nn.Module):
    """``with train_mode(model):`` runs the block in train mode, then restores every flag."""
    return _switched(check_module(model), True)


def preserved_state(model: nn.Module):
    """Restore every submodule's mode and the grad-enabled switch when the block ends."""
    return _preserved_state(check_module(model))


@contextmanager
def _preserved_state(model: nn.Module) -> Iterator[nn.Module]:
    """:func:`preserved_state` of a checked module."""
    snapshot = _snapshot(model)
    grad_enabled = torch.is_grad_enabled()
    try:
        yield model
    finally:
        restore_modes(snapshot)
        torch.set_grad_enabled(grad_enabled)


def require_mode(model: nn.Module, training: bool, action: str) -> None:
    """Raise a ``ValueError`` unless every submodule of ``model`` is in the required mode.

    Args:
        model: the model to check.
        training: ``True`` to require train mode, ``False`` for eval mode.
        action: what the caller is about to do, used in the message.
    """
    check_module(model)
    if not isinstance(training, bool):
        raise TypeError(
            f"training must be True (train mode) or False (eval mode), got {training!r}"
        )
    _require_mode(model, training, action)


def _require_mode(model: nn.Module, training: bool, action: str) -> None:
    """:func:`require_mode` on a checked module and a bool ``training``."""
    wrong = [
        name or "(model)" for name, m in model.named_modules() if m.training != training
    ]
    if wrong:
        want, call = ("train", "model.train()") if training else ("eval", "model.eval()")
        shown = ", ".join(wrong[:5]) + (f" and {len(wrong) - 5} more" if len(wrong) > 5 else "")
        raise ValueError(
            f"{action} needs the model in {want} mode, but these submodules are not: {shown}. "
            f"Call {call} first."
        )
