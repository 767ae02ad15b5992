"""The training loop of notebook 04, packaged for the later notebooks.

Notebook 04 writes the loop out by hand; later notebooks call :func:`fit` so
that they can focus on what changes between train and eval mode.

* :func:`train_one_epoch` puts the model in **train mode** and runs the five
  steps on every batch: forward, loss, ``zero_grad``, backward, ``step``.
* :func:`evaluate` measures loss and accuracy under ``torch.inference_mode()``.
  It **requires eval mode** and raises a ``ValueError`` if any submodule is
  still in train mode ("evaluate() needs the model in eval mode ... Call
  model.eval() first"). Evaluating in train mode by mistake is the bug this
  course is about: dropout would drop units and BatchNorm would normalise with
  the test batch's statistics (and update its running statistics). Refusing
  beats silently switching, because the caller sees where the mode was wrong.
* :func:`fit` runs ``epochs`` epochs. Each one is :func:`train_one_epoch` (train
  mode), then, with test data, ``model.eval()`` and :func:`evaluate`; the next
  epoch switches back to train mode. **fit leaves the model in eval mode**,
  the state in which you predict with it; call ``model.train()`` to train more
  by hand.
* :class:`History` keeps the per-epoch numbers, prints a short summary and
  plots loss and accuracy curves.

Train metrics are averages over the epoch's batches, each measured during the
forward pass *before* that batch's update and in train mode (dropout on);
test metrics are measured after the epoch, in eval mode. The two are
therefore not measured under identical conditions, which is the usual
convention (and the reason train accuracy can sit below test accuracy).

Accuracy comes from :func:`course_utils.conversions.accuracy`: one logit per
sample means binary (sigmoid, then a threshold on the probability), K logits
mean K classes (argmax). Data is moved to the device of the model's
parameters, so the same call works on a CPU and on a GPU.

Bad input fails early with a ``ValueError`` or ``TypeError`` that says what to
change: data that are not tensors, NaN or infinite values in ``X`` or ``y``,
tensors on the shape-only ``meta`` device, and (with the shapes and dtypes
involved) a model or loss function that cannot run on the data. A call that
fails, or is interrupted, leaves the model's modes and the grad switch as they
were. When training diverges, the loss turns NaN and so does that epoch's
accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .checks import check_int, check_module, check_seed, check_threshold, check_xy
from .conversions import _checked_accuracy, check_logits
from .modes import _require_mode, _snapshot, restore_modes

__all__ = ["History", "evaluate", "train_one_epoch", "fit"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------


@dataclass
class History:
    """Per-epoch loss and accuracy from :func:`fit` (``test_*`` are empty without test data)."""

    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.train_loss = [float(v) for v in self.train_loss]
        self.test_loss = [float(v) for v in self.test_loss]
        self.train_acc = [float(v) for v in self.train_acc]
        self.test_acc = [float(v) for v in self.test_acc]
        if len(self.train_acc) != len(self.train_loss):
            raise ValueError(
                f"train_loss and train_acc need one value per epoch each, "
                f"got {len(self.train_loss)} and {len(self.train_acc)}"
            )
        if len(self.test_loss) != len(self.test_acc):
            raise ValueError(
                f"test_loss and test_acc need one value per epoch each, "
                f"got {len(self.test_loss)} and {len(self.test_acc)}"
            )
        if self.test_loss and len(self.test_loss) != len(self.train_loss):
            raise ValueError(
                f"test metrics must be empty or have one value per epoch "
                f"({len(self.train_loss)}), got {len(self.test_loss)}"
            )

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)

    @property
    def has_test(self) -> bool:
        """True when test metrics were recorded."""
        return bool(self.test_loss)

    def append(
        self,
        train_loss: float,
        train_acc: float,
        test_loss: float | None = None,
        test_acc: float | None = None,
    ) -> None:
        """Record one epoch (pass both test values or neither)."""
        if (test_loss is None) != (test_acc is None):
            raise ValueError("pass both test_loss and test_acc, or neither")
        if test_loss is not None and self.epochs and not self.has_test:
            raise ValueError("this history has no test metrics so far; keep it that way")
        self.train_loss.append(float(train_loss))
        self.train_acc.append(float(train_acc))
        if test_loss is not None:
            self.test_loss.append(float(test_loss))
            self.test_acc.append(float(test_acc))

    def __str__(self) -> str:
        if not self.epochs:
            return "History(0 epochs)"
        text = (
            f"History({self.epochs} epoch{'s' if self.epochs != 1 else ''}): "
            f"train loss {self.train_loss[-1]:.4f}, acc {self.train_acc[-1]:.4f}"
        )
        if self.has_test:
            text += f"; test loss {self.test_loss[-1]:.4f}, acc {self.test_acc[-1]:.4f}"
        return text

    __repr__ = __str__

    def plot(self, axes: Sequence[Any] | None = None, title: str | None = None):
        """Loss (left) and accuracy (right) per epoch, train vs test. Returns the Figure.

        Args:
            axes: two matplotlib Axes to draw into; ``None`` makes a new figure.
            title: optional title for the whole figure.
        """
        import matplotlib.pyplot as plt

        from .style import EVAL_COLOR, TRAIN_COLOR

        if not self.epochs:
            raise ValueError("this History is empty: train for at least one epoch before plotting")
        if axes is None:
            fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        else:
            axes = list(axes)
            if len(axes) != 2:
                raise ValueError(f"axes must be two matplotlib Axes (loss, accuracy), got {len(axes)}")
            fig = axes[0].figure
        x = range(1, self.epochs + 1)
        panels = (
            (axes[0], self.train_loss, self.test_loss, "loss", "Loss"),
            (axes[1], self.train_acc, self.test_acc, "accuracy", "Accuracy"),
        )
        for ax, train, test, ylabel, name in panels:
            ax.plot(x, train, color=TRAIN_COLOR, label="train (train mode)")
            if self.has_test:
                ax.plot(x, test, color=EVAL_COLOR, label="test (eval mode)")
            ax.set_xlabel("epoch")
            ax.set_ylabel(ylabel)
            ax.set_title(name)
            ax.legend()
        axes[1].set_ylim(min(0.0, *self.train_acc, *self.test_acc) - 0.02, 1.02)
        if title:
            fig.suptitle(title)
        return fig


# ---------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------


def _check_loss_fn(loss_fn: object) -> LossFn:
    if not callable(loss_fn):
        raise TypeError(
            f"loss_fn must be callable, like nn.BCEWithLogitsLoss() (note the brackets), "
            f"got {type(loss_fn).__name__}"
        )
    if isinstance(loss_fn, type):
        raise TypeError(
            f"loss_fn is the class {loss_fn.__name__}, not a loss object: "
            f"pass {loss_fn.__name__}() with brackets"
        )
    return loss_fn  # type: ignore[return-value]


def _check_batch_size(batch_size: object) -> int | None:
    """A positive int, or ``None`` for one full batch (training's meaning of ``None``)."""
    return check_int(
        "batch_size", batch_size, 1, allow_none=True, what="a positive int or None (full batch)",
        type_error=ValueError,
    )


def _check_optimizer(optimizer: object, model: nn.Module) -> torch.optim.Optimizer:
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, like torch.optim.SGD(model.parameters(), lr=0.1), "
            f"got {type(optimizer).__name__}"
        )
    mine = {id(p) for p in model.parameters()}
    held = [p for group in optimizer.param_groups for p in group["params"]]
    if mine and not any(id(p) in mine for p in held):
        raise ValueError(
            "the optimizer does not hold any of this model's parameters, so step() would "
            "change nothing; build it from this model: torch.optim.SGD(model.parameters(), ...)"
        )
    return optimizer


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def _check_model_device(model: nn.Module) -> torch.device:
    device = _model_device(model)
    if device.type == "meta":
        raise ValueError(
            "the model's parameters are on the 'meta' device, which records shapes but holds "
            "no values, so it cannot be trained or evaluated. Build it on a real device, or call "
            "model.to_empty(device='cpu') and load its weights."
        )
    return device


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _forward(model: nn.Module, xb: torch.Tensor) -> torch.Tensor:
    """``model(xb)``; a ``RuntimeError`` (wrong shape or dtype) becomes a ``ValueError`` saying why."""
    try:
        return model(xb)
    except RuntimeError as exc:
        hint = "check that X has the shape and dtype the model's first layer expects"
        params = [p for p in model.parameters() if p.is_floating_point()]
        if params and not xb.is_floating_point():
            hint = f"X holds {xb.dtype} values but the model computes in floating point: use X.float()"
        elif params and xb.dtype != params[0].dtype:
            hint = (
                f"X is {xb.dtype} but the model's parameters are {params[0].dtype}: convert with "
                "X.float() (tensors made from NumPy arrays are float64)"
            )
        elif "shapes cannot be multiplied" in str(exc) and xb.ndim >= 2:
            hint = (
                f"X has {xb.shape[-1]} features per sample; the model's first layer expects a "
                "different number (its in_features)"
            )
        raise ValueError(
            f"the model failed on a batch of X with shape {tuple(xb.shape)} and dtype {xb.dtype} "
            f"({type(exc).__name__}: {_first_line(exc)}): {hint}"
        ) from exc


def _loss(loss_fn: LossFn, logits: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """``loss_fn(logits, yb)``; a failure (mismatched targets) becomes a ``ValueError`` saying why."""
    try:
        loss = loss_fn(logits, yb)
    except (RuntimeError, ValueError, IndexError) as exc:
        raise ValueError(
            f"loss_fn(logits, y) failed ({type(exc).__name__}: {_first_line(exc)}). The logits "
            f"have shape {tuple(logits.shape)} ({logits.dtype}), y has shape {tuple(yb.shape)} "
            f"({yb.dtype}). BCEWithLogitsLoss needs float targets of the logits' shape, e.g. "
            "(N, 1); CrossEntropyLoss needs class indices of dtype long and shape (N,)."
        ) from exc
    return _check_loss(loss)


def _accuracy(logits: torch.Tensor, yb: torch.Tensor, threshold: float) -> float:
    """Accuracy, or NaN when the logits are NaN (the training diverged: the loss shows it too).

    ``threshold`` was checked at the entry of the public function; the logits
    and targets are new on every batch, so they are checked here.
    """
    if torch.isnan(logits).any():
        return float("nan")
    return _checked_accuracy(check_logits(logits), yb, threshold)


def _check_loss(loss: object) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(
            f"loss_fn must return one number (a scalar tensor), got {shape}; "
            "use the default reduction='mean'"
        )
    return loss


def _batches(
    n: int, batch_size: int | None, generator: torch.Generator | None, shuffle: bool
) -> Iterator[torch.Tensor | slice]:
    """Index batches: one slice for the full batch, else (shuffled) index tensors."""
    if batch_size is None or batch_size >= n and not shuffle:
        yield slice(None)
        return
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def _take(t: torch.Tensor, index: torch.Tensor | slice) -> torch.Tensor:
    if isinstance(index, slice):
        return t
    return t[index.to(t.device)]


# ---------------------------------------------------------------------------
# Data: tensors (X, y) or an iterable of (xb, yb) batches (a DataLoader)
# ---------------------------------------------------------------------------

Batches = Any  # a DataLoader, or any re-iterable of (xb, yb) pairs


def _is_tensor(data: object) -> bool:
    return isinstance(data, torch.Tensor)


def _check_batches(data: object, what: str) -> Batches:
    """``data`` as an iterable of batches, or a ``TypeError`` saying what to pass."""
    if isinstance(data, str | bytes | dict) or not hasattr(data, "__iter__"):
        raise TypeError(
            f"{what} must be tensors X, y or an iterable of (xb, yb) batches such as a "
            f"torch.utils.data.DataLoader, got {type(data).__name__}"
        )
    if iter(data) is data:  # a generator or iterator: gone after one epoch
        raise TypeError(
            f"{what} is a one-shot iterator ({type(data).__name__}), which is empty after its "
            "first pass; pass a DataLoader or a list of (xb, yb) batches instead"
        )
    return data


def _loader_batches(
    loader: Batches, what: str, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Each ``(xb, yb)`` of ``loader``, checked like tensors and moved to ``device``."""
    count = 0
    for i, batch in enumerate(loader):
        if not isinstance(batch, tuple | list) or len(batch) != 2:
            got = f"{type(batch).__name__} of length {len(batch)}" if isinstance(batch, tuple | list) \
                else type(batch).__name__
            raise ValueError(
                f"{what} batch {i} must be a pair (xb, yb), got a {got}; a DataLoader over "
                "TensorDataset(X, y) yields such pairs"
            )
        xb, yb = check_xy(batch[0], batch[1], what=f"{what} batch {i}")
        count += 1
        yield xb.to(device), yb.to(device)
    if count == 0:
        raise ValueError(
            f"{what} yielded no batches: the DataLoader (or list) is empty; check that its "
            "dataset holds samples and that drop_last=True did not drop the only batch"
        )


def _tensor_batches(
    X: torch.Tensor, y: torch.Tensor, batch_size: int | None, generator: torch.Generator | None,
    shuffle: bool,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for index in _batches(X.shape[0], batch_size, generator, shuffle):
        yield _take(X, index), _take(y, index)


# ---------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------


def evaluate(
    model: nn.Module,
    X: torch.Tensor | Batches,
    y: torch.Tensor | LossFn | None = None,
    loss_fn: LossFn | None = None,
    *,
    batch_size: int | None = None,
    threshold: float = 0.5,
) -> tuple[float, float]:
    """Loss and accuracy of ``model`` on ``(X, y)`` or on a DataLoader, as two Python floats.

    Call it as ``evaluate(model, X, y, loss_fn)`` with tensors, or as
    ``evaluate(model, loader, loss_fn)`` with a ``DataLoader`` (or any
    re-iterable of ``(xb, yb)`` batches).

    The model must already be in eval mode (``model.eval()``); a model with any
    submodule in train mode is refused with a ``ValueError``, because its
    dropout and BatchNorm layers would give train-mode numbers (and BatchNorm
    would update its running statistics). The forward pass runs under
    ``torch.inference_mode()``, so no graph is built. Data is moved to the
    model's device. The loss and accuracy are size-weighted means over the
    batches (a short last batch counts by its size), so they equal the
    full-batch numbers for a ``reduction='mean'`` loss.

    Args:
        model: an ``nn.Module`` in eval mode.
        X, y: inputs and targets with the same first dimension; or ``X`` a DataLoader
            and ``y`` the loss function.
        loss_fn: e.g. ``nn.BCEWithLogitsLoss()`` or ``nn.CrossEntropyLoss()``.
        batch_size: with tensors, evaluate in chunks of this size (``None``: all at
            once). A DataLoader brings its own batch size.
        threshold: probability threshold for binary models.
    """
    check_module(model)
    _require_mode(model, training=False, action="evaluate()")
    loader = None
    if not _is_tensor(X) and loss_fn is None and y is not None and not _is_tensor(y):
        loader, loss_fn = _check_batches(X, "the data"), y
        if batch_size is not None:
            raise ValueError("batch_size is for tensors X, y; a DataLoader has its own batch_size")
    else:
        if y is None:
            raise TypeError("evaluate() needs y (the targets) after X, or a DataLoader in place of X")
        X, y = check_xy(X, y)
    if loss_fn is None:
        raise TypeError("evaluate() needs a loss_fn, like nn.CrossEntropyLoss()")
    loss_fn = _check_loss_fn(loss_fn)
    batch_size = _check_batch_size(batch_size)
    threshold = check_threshold(threshold)
    device = _check_model_device(model)
    data = loader if loader is not None else (X, y)
    return _evaluate(model, data, loss_fn, batch_size=batch_size, threshold=threshold, device=device)


def _evaluate(
    model: nn.Module,
    data: Batches | tuple[torch.Tensor, torch.Tensor],
    loss_fn: LossFn,
    *,
    batch_size: int | None,
    threshold: float,
    device: torch.device,
    what: str = "the data",
) -> tuple[float, float]:
    """The loop of :func:`evaluate`, on validated arguments."""
    if isinstance(data, tuple):
        X, y = data[0].to(device), data[1].to(device)
        batches = _tensor_batches(X, y, batch_size, None, shuffle=False)
    else:
        batches = _loader_batches(data, what, device)
    n = 0
    total_loss = total_acc = 0.0
    with torch.inference_mode():
        for xb, yb in batches:
            logits = _forward(model, xb)
            loss = _loss(loss_fn, logits, yb)
            total_loss += loss.item() * xb.shape[0]
            total_acc += _accuracy(logits, yb, threshold) * xb.shape[0]
            n += xb.shape[0]
    return total_loss / n, total_acc / n


def train_one_epoch(
    model: nn.Module,
    X: torch.Tensor | Batches,
    y: torch.Tensor | LossFn | None = None,
    loss_fn: LossFn | torch.optim.Optimizer | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
    set_train_mode: Callable[[nn.Module], object] | None = None,
    threshold: float = 0.5,
) -> tuple[float, float]:
    """One pass over the data in train mode; returns the mean (loss, accuracy).

    Call it as ``train_one_epoch(model, X, y, loss_fn, optimizer)`` with tensors,
    or as ``train_one_epoch(model, loader, loss_fn, optimizer)`` with a
    ``DataLoader`` (or any re-iterable of ``(xb, yb)`` batches).

    For every batch: 1. forward, 2. loss, 3. ``optimizer.zero_grad()``,
    4. ``loss.backward()``, 5. ``optimizer.step()``. The returned numbers are
    size-weighted means over the batches (a short last batch counts by its
    size), each measured before its update.

    Args:
        batch_size: with tensors, ``None`` for one full batch (no shuffling);
            otherwise the samples are shuffled with ``torch.randperm(...,
            generator=generator)`` and cut into batches of this size (the last one
            may be smaller). A DataLoader brings its own batching and shuffling.
        generator: the random generator for shuffling (``None``: PyTorch's global one).
        set_train_mode: how to put the model in train mode; default ``model.train()``.
            Pass e.g. a function that calls ``model.train()`` and then ``.eval()`` on a
            frozen backbone to keep it in eval mode.
        threshold: probability threshold for binary accuracy.
    """
    check_module(model)
    loader = None
    if not _is_tensor(X) and optimizer is None and y is not None and not _is_tensor(y):
        loader, loss_fn, optimizer = _check_batches(X, "the data"), y, loss_fn
        if batch_size is not None or generator is not None:
            raise ValueError(
                "batch_size and generator are for tensors X, y; a DataLoader batches and "
                "shuffles by itself (DataLoader(..., batch_size=..., shuffle=True))"
            )
    else:
        if y is None:
            raise TypeError("train_one_epoch() needs y (the targets) after X, or a DataLoader in place of X")
        X, y = check_xy(X, y)
    if loss_fn is None or optimizer is None:
        raise TypeError("train_one_epoch() needs a loss_fn and an optimizer")
    loss_fn = _check_loss_fn(loss_fn)
    optimizer = _check_optimizer(optimizer, model)
    batch_size = _check_batch_size(batch_size)
    threshold = check_threshold(threshold)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if set_train_mode is not None and not callable(set_train_mode):
        raise TypeError(f"set_train_mode must be a function of the model, got {type(set_train_mode).__name__}")
    if not torch.is_grad_enabled():
        raise RuntimeError(
            "train_one_epoch() was called with gradient tracking switched off; "
            "call it outside torch.no_grad() / torch.inference_mode()"
        )
    device = _check_model_device(model)
    return _train_epoch(model, loader if loader is not None else (X, y), loss_fn, optimizer,
                        batch_size=batch_size, generator=generator,
                        set_train_mode=set_train_mode, threshold=threshold, device=device)


def _train_epoch(
    model: nn.Module,
    data: Batches | tuple[torch.Tensor, torch.Tensor],
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    *,
    batch_size: int | None,
    generator: torch.Generator | None,
    set_train_mode: Callable[[nn.Module], object] | None,
    threshold: float,
    device: torch.device,
) -> tuple[float, float]:
    """The epoch of :func:`train_one_epoch`, on validated arguments."""
    snapshot = _snapshot(model)
    try:
        if set_train_mode is None:
            model.train()
        else:
            set_train_mode(model)
        if isinstance(data, tuple):
            X, y = data[0].to(device), data[1].to(device)
            batches = _tensor_batches(X, y, batch_size, generator, shuffle=batch_size is not None)
        else:
            batches = _loader_batches(data, "the training data", device)
        n = 0
        total_loss = total_acc = 0.0
        for xb, yb in batches:
            logits = _forward(model, xb)  # 1. forward
            loss = _loss(loss_fn, logits, yb)  # 2. loss
            optimizer.zero_grad()  # 3. clear last batch's gradients
            loss.backward()  # 4. gradients of the loss w.r.t. every parameter
            optimizer.step()  # 5. update the parameters
            total_loss += loss.item() * xb.shape[0]
            total_acc += _accuracy(logits.detach(), yb, threshold) * xb.shape[0]
            n += xb.shape[0]
    except BaseException:
        restore_modes(snapshot)  # a failed epoch leaves the modes as they were
        raise
    return total_loss / n, total_acc / n


def _check_split(data: object, what: str) -> Batches | tuple[torch.Tensor, torch.Tensor]:
    """A ``(X, y)`` pair of tensors (checked), or an iterable of batches (checked lazily)."""
    is_pair = (
        isinstance(data, tuple | list) and len(data) == 2
        and not any(isinstance(part, tuple | list) for part in data)
    )
    if is_pair:  # (X, y), not a list of two (xb, yb) batches
        return check_xy(data[0], data[1], what=what)
    if isinstance(data, str | bytes | dict) or not hasattr(data, "__iter__"):
        raise TypeError(
            f"{what} must be a pair (X_{what}, y_{what}) of tensors, or a DataLoader (any "
            f"re-iterable of (xb, yb) batches), got {type(data).__name__}"
        )
    return _check_batches(data, what)


def fit(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor] | Batches,
    test: tuple[torch.Tensor, torch.Tensor] | Batches | None = None,
    *,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    progress: bool = False,
    seed: int | None = None,
    set_train_mode: Callable[[nn.Module], object] | None = None,
    threshold: float = 0.5,
) -> History:
    """Train for ``epochs`` epochs, evaluating on ``test`` after each; return the :class:`History`.

    Every epoch: :func:`train_one_epoch` (train mode), then, if ``test`` is given,
    ``model.eval()`` and :func:`evaluate`. The next epoch goes back to train mode.
    **On return the model is in eval mode**, ready to predict with.

    Args:
        model: the ``nn.Module`` to train (its optimizer must hold its parameters).
        train: ``(X_train, y_train)``, or a ``DataLoader`` (any re-iterable of
            ``(xb, yb)`` batches), which then decides batching and shuffling.
        test: ``(X_test, y_test)``, a ``DataLoader``, or ``None`` to record train
            metrics only.
        loss_fn: e.g. ``nn.BCEWithLogitsLoss()`` (1 logit) or ``nn.CrossEntropyLoss()`` (K logits).
        optimizer: e.g. ``torch.optim.Adam(model.parameters(), lr=0.01)``.
        epochs: number of passes over the training data (an int >= 1).
        batch_size: with tensors, ``None`` for full-batch training, else shuffled
            mini-batches (and test batches of that size). Not for a DataLoader.
        device: move the model there first; ``None`` keeps it where it is. Data always
            goes to the model's device.
        progress: show a tqdm progress bar with the latest metrics (default: silent).
        seed: with tensors, seeds the ``torch.Generator`` that shuffles the
            mini-batches, so the batch order is reproducible. It does not seed
            dropout: call ``course_utils.set_seed`` for that.
        set_train_mode: see :func:`train_one_epoch`.
        threshold: probability threshold for binary accuracy.
    """
    check_module(model)
    train = _check_split(train, "train")
    if test is not None:
        test = _check_split(test, "test")
    loss_fn = _check_loss_fn(loss_fn)
    optimizer = _check_optimizer(optimizer, model)
    epochs = check_int("epochs", epochs, 1, what="an int >= 1", type_error=ValueError)
    batch_size = _check_batch_size(batch_size)
    seed = check_seed(seed, high=None, allow_none=True)
    if not isinstance(train, tuple) and (batch_size is not None or seed is not None):
        raise ValueError(
            "batch_size and seed are for tensors (X, y); a DataLoader batches and shuffles by "
            "itself: DataLoader(dataset, batch_size=..., shuffle=True, generator=...)"
        )
    if set_train_mode is not None and not callable(set_train_mode):
        raise TypeError(f"set_train_mode must be a function of the model, got {type(set_train_mode).__name__}")
    threshold = check_threshold(threshold)
    if not torch.is_grad_enabled():
        raise RuntimeError(
            "fit() was called with gradient tracking switched off; "
            "call it outside torch.no_grad() / torch.inference_mode()"
        )
    if device is not None:
        model.to(device)
    device = _check_model_device(model)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    snapshot, grad_enabled = _snapshot(model), torch.is_grad_enabled()
    try:
        return _fit_epochs(
            model, train, test, loss_fn=loss_fn, optimizer=optimizer, epochs=epochs,
            batch_size=batch_size, generator=generator, progress=progress,
            set_train_mode=set_train_mode, threshold=threshold, device=device,
        )
    except BaseException:
        # A failed (or interrupted) fit leaves the modes and grad switch as they were.
        restore_modes(snapshot)
        torch.set_grad_enabled(grad_enabled)
        raise


def _fit_epochs(
    model: nn.Module,
    train: Batches | tuple[torch.Tensor, torch.Tensor],
    test: Batches | tuple[torch.Tensor, torch.Tensor] | None,
    *,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batch_size: int | None,
    generator: torch.Generator | None,
    progress: bool,
    set_train_mode: Callable[[nn.Module], object] | None,
    threshold: float,
    device: torch.device,
) -> History:
    """The epoch loop of :func:`fit`, on validated arguments (checked once, in fit)."""
    history = History()
    epoch_range: Any = range(epochs)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = epoch_range = tqdm(epoch_range, desc="epochs", unit="epoch")
    for _ in epoch_range:
        train_loss, train_acc = _train_epoch(
            model, train, loss_fn, optimizer, batch_size=batch_size, generator=generator,
            set_train_mode=set_train_mode, threshold=threshold, device=device,
        )
        model.eval()
        if test is not None:
            test_loss, test_acc = _evaluate(
                model, test, loss_fn, batch_size=batch_size, threshold=threshold, device=device,
                what="the test data",
            )
            history.append(train_loss, train_acc, test_loss, test_acc)
        else:
            history.append(train_loss, train_acc)
        if bar is not None:
            shown = {"loss": f"{train_loss:.4f}", "acc": f"{train_acc:.4f}"}
            if test is not None:
                shown |= {"test_loss": f"{test_loss:.4f}", "test_acc": f"{test_acc:.4f}"}
            bar.set_postfix(shown)
    return history
