"""Decision-boundary plots for PyTorch classifiers with two input features.

:func:`plot_decision_boundary` evaluates a model on a grid that covers the
data (plus a margin ``eps``), colours each grid cell by the predicted class or
probability, and draws the data points on top::

    shown = plot_decision_boundary(model, split.X_test, split.y_test)
    shown.accuracy            # fraction of the points the model gets right
    shown.labels.shape        # (grid_resolution, grid_resolution)

The design follows scikit-learn's ``DecisionBoundaryDisplay``: computing the
grid (:func:`compute_decision_boundary`) is separate from drawing it
(:meth:`DecisionBoundary.plot`), and the result keeps the grid, the values
and the matplotlib artists so you can inspect or restyle them.

Every classifier shape is drawn: one logit per point (sigmoid, binary), two
logits (softmax over two classes, also binary: coloured by P(class 1) exactly
like the one-logit case) and K > 2 logits (softmax, argmax).

The model is always run under ``torch.inference_mode()`` on the model's own
device, in eval mode unless you ask for ``mode="train"`` (a teaching option to
*see* dropout's randomness). Afterwards every submodule's mode, the
grad-enabled switch and all buffers (BatchNorm running statistics) are exactly
as they were, even if the model raises.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib as mpl
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, LinearSegmentedColormap, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from torch import nn

from .checks import (
    check_choice,
    check_int,
    check_labels,
    check_module,
    check_number,
    check_points,
    check_threshold,
)
from .modes import _preserved_state

__all__ = [
    "CLASS_COLORS",
    "DecisionBoundary",
    "binary_cmap",
    "class_colors",
    "confidence_rgb",
    "compute_decision_boundary",
    "plot_decision_boundary",
    "predict_grid",
    "make_grid",
]

#: Class colours: the Okabe-Ito palette without the two colours the course
#: reserves for train mode (vermillion) and eval mode (blue).
CLASS_COLORS = ("#e69f00", "#56b4e9", "#009e73", "#cc79a7", "#f0e442", "#999999", "#000000")

RESPONSES = ("label", "probability")
MODES = ("eval", "train")
PLOT_METHODS = ("contourf", "pcolormesh")
MAX_GRID_RESOLUTION = 1000
_CHUNK = 16384


# ---------------------------------------------------------------------------
# The model's device and dtype
# ---------------------------------------------------------------------------


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.get_default_dtype()


# ---------------------------------------------------------------------------
# Computing the grid
# ---------------------------------------------------------------------------


def make_grid(
    X: np.ndarray | torch.Tensor, grid_resolution: int = 200, eps: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """The ``meshgrid`` that covers ``X`` plus a margin ``eps`` on every side.

    Returns ``(xx, yy)``, each of shape ``(grid_resolution, grid_resolution)``;
    row ``i`` has one ``y`` value, column ``j`` one ``x`` value.
    """
    points = check_points(X, who="make_grid")
    grid_resolution, eps = _check_grid_args(grid_resolution, eps)
    return _make_grid(points, grid_resolution, eps)


def _check_grid_args(grid_resolution: object, eps: object) -> tuple[int, float]:
    """The grid's size (points per axis) and margin, as :func:`make_grid` takes them."""
    return (
        check_int("grid_resolution", grid_resolution, 2, MAX_GRID_RESOLUTION),
        check_number("eps", eps, 0.0),
    )


def _make_grid(points: np.ndarray, grid_resolution: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`make_grid` on checked arguments."""
    lows, highs = points.min(axis=0) - eps, points.max(axis=0) + eps
    # A single point (or a vertical/horizontal line of points) with eps=0 would
    # give an empty range: widen it a little so the grid has an area.
    same = highs - lows < 1e-9
    lows, highs = np.where(same, lows - 0.5, lows), np.where(same, highs + 0.5, highs)
    return np.meshgrid(
        np.linspace(lows[0], highs[0], grid_resolution),
        np.linspace(lows[1], highs[1], grid_resolution),
    )


def predict_grid(
    model: nn.Module,
    points: torch.Tensor,
    *,
    mode: str = "eval",
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The model's logits for ``points`` (shape ``(M, 2)``) as a CPU float tensor ``(M, K)``.

    Runs in ``mode`` ("eval" or "train") under ``torch.inference_mode()`` on
    ``device`` (default: the model's device). In eval mode the points go through
    in chunks of at most 16,384 rows (to bound memory); in train mode all of
    them go through as one batch, because BatchNorm then normalises with the
    batch's own statistics and chunks would change the answer. Afterwards every
    submodule's mode, the grad-enabled switch and the model's buffers are
    restored, even on error.
    A model that returns one logit per point gives ``K = 1``.
    """
    check_module(model)
    mode = check_choice("mode", mode, list(MODES))
    if not isinstance(points, torch.Tensor) or points.ndim != 2 or points.shape[0] == 0:
        shape = tuple(points.shape) if isinstance(points, torch.Tensor) else type(points).__name__
        raise ValueError(f"points must be a non-empty tensor of shape (M, features), got {shape}.")
    return _predict_grid(model, points, mode, device)


def _predict_grid(
    model: nn.Module, points: torch.Tensor, mode: str, device: torch.device | str | None
) -> torch.Tensor:
    """:func:`predict_grid` on checked arguments."""
    model_device, dtype = _model_device_dtype(model)
    device = model_device if device is None else torch.device(device)
    if device.type == "meta":
        raise ValueError(
            "the model is on the 'meta' device (shapes only, no weights), so it cannot be "
            "evaluated; build or load it on a real device, or move it with model.to('cpu')"
        )
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    outputs = []
    # Eval mode: each point's output is independent of the others, so chunks bound memory.
    # Train mode: BatchNorm normalises with the statistics of the batch it is given, so
    # chunks would change the answer; every point goes through in one batch.
    step = _CHUNK if mode == "eval" else points.shape[0]
    try:
        with _preserved_state(model), torch.inference_mode():
            model.train(mode == "train")
            for start in range(0, points.shape[0], step):
                chunk = points[start : start + step].to(device=device, dtype=dtype)
                try:
                    out = model(chunk)
                except (RuntimeError, ValueError) as exc:
                    raise _run_error(model, exc, chunk.shape[0], mode) from exc
                outputs.append(_check_output(out, chunk.shape[0]))
    finally:
        if mode == "train" and buffers:  # train-mode BatchNorm would update running stats
            with torch.no_grad():
                for name, b in model.named_buffers():
                    if name in buffers:
                        b.copy_(buffers[name])
    return torch.cat(outputs).float()


def _first_linear(model: nn.Module) -> nn.Linear | None:
    return next((m for m in model.modules() if isinstance(m, nn.Linear)), None)


def _run_error(model: nn.Module, exc: Exception, n_points: int, mode: str) -> ValueError:
    """A clear error for a forward pass that failed: blame the input only if the first layer wants another size."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(exc, ValueError) and "more than 1 value per channel" in text:
        return ValueError(
            f"in train mode BatchNorm normalises with the statistics of the batch, and a batch of "
            f"{n_points} point(s) has none (torch: {first}). Pass at least 2 points, or use mode='eval'."
        )
    layer = _first_linear(model)
    if layer is not None and layer.in_features != 2:
        return ValueError(
            f"the model could not be run on points with 2 input features (it raised "
            f"{type(exc).__name__}: {first}). Its first layer takes {layer.in_features} inputs; "
            "plot_decision_boundary can only draw models whose first layer takes 2 inputs, e.g. nn.Linear(2, ...)."
        )
    return ValueError(
        f"the model itself fails on input of shape (N, 2): its forward pass raised {type(exc).__name__}: "
        f"{first}. Check the sizes of its layers (each layer's inputs must match the outputs of the one "
        "before it) by calling the model on a small tensor of shape (N, 2)."
    )


def _check_output(out: object, n_points: int) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise TypeError(
            f"the model must return a tensor of logits, got {type(out).__name__}. "
            "Return the logits themselves (not a tuple or dict)."
        )
    shape = tuple(out.shape)
    if out.ndim == 1:
        out = out.unsqueeze(1)
    if out.ndim != 2 or out.shape[0] != n_points:
        raise ValueError(
            f"the model must return logits of shape (N,), (N, 1) or (N, K), one row per point; "
            f"for {n_points} points it returned shape {shape}."
        )
    if out.shape[1] == 0:
        raise ValueError(
            f"the model returned no logits (shape {shape}): its last layer needs 1 output for a "
            "binary model or one per class, e.g. nn.Linear(..., 1) or nn.Linear(..., K)."
        )
    if not out.is_floating_point():
        raise TypeError(f"the model must return floating-point logits, got dtype {out.dtype}.")
    if not torch.isfinite(out).all():
        raise ValueError(
            "the model returned NaN or infinite logits on the grid; its training has probably "
            "diverged (try a smaller learning rate)."
        )
    return out.detach().cpu()


_PROBABILITY_LAYERS = (nn.Sigmoid, nn.Softmax)


def _last_layer(model: nn.Module) -> nn.Module:
    """The layer a (nested) ``nn.Sequential`` applies last; other modules: the model itself."""
    while isinstance(model, nn.Sequential) and len(model) > 0:
        model = model[-1]
    return model


def _check_logits(model: nn.Module, logits: torch.Tensor) -> None:
    """Refuse (or warn about) outputs that are probabilities rather than logits.

    A sigmoid or softmax applied twice draws a silently wrong picture: a second
    sigmoid maps every probability into [0.5, 0.73], so every point is class 1.
    """
    last = _last_layer(model)
    if isinstance(last, _PROBABILITY_LAYERS):
        raise ValueError(
            f"the model ends in {type(last).__name__}, so it returns probabilities, not logits. "
            "plot_decision_boundary applies the sigmoid (one output) or softmax (K outputs) "
            f"itself; a second one would draw a wrong picture. Pass the model without its final "
            f"{type(last).__name__} (train with BCEWithLogitsLoss or CrossEntropyLoss on the logits)."
        )
    if logits.shape[1] >= 2 and bool((logits >= 0).all()) and bool(
        torch.allclose(logits.sum(dim=1), torch.ones(logits.shape[0]), atol=1e-4)
    ):
        raise ValueError(
            "every row of the model's output is >= 0 and sums to 1: these look like softmax "
            "probabilities, not logits. plot_decision_boundary applies the softmax itself; "
            "return the logits (the values before the softmax)."
        )
    if logits.shape[1] == 1 and bool(((logits >= 0) & (logits <= 1)).all()) and (
        float(logits.max() - logits.min()) > 0.9
    ):
        warnings.warn(
            "every output of the model lies in [0, 1] and they span almost all of it: these look like "
            "probabilities (a sigmoid at the end of the model), not logits. plot_decision_boundary "
            "applies the sigmoid itself, so pass logits; if these are logits, ignore this warning.",
            UserWarning,
            stacklevel=3,
        )


def _labels_and_probabilities(
    logits: torch.Tensor, threshold: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Labels ``(M,)``, probabilities (binary: P(class 1), ``(M,)``; else ``(M, K)``) and the class count.

    * One logit ``z``: P(class 1) = ``sigmoid(z)``, label = ``P >= threshold``
      (as :func:`course_utils.conversions.logits_to_labels`).
    * Two logits ``(z0, z1)`` (softmax over two classes): a binary model too.
      P(class 1) = ``softmax(z)[:, 1]`` = ``sigmoid(z1 - z0)``, and the label
      follows the same rule as one logit, ``P >= threshold``, so a tie
      (``z1 == z0``, P = 0.5) is class 1 at the default threshold.
    * K > 2 logits: softmax probabilities ``(M, K)``, label = ``argmax``.
    """
    k = logits.shape[1]
    if k == 1:
        prob = torch.sigmoid(logits[:, 0])
        return (prob >= threshold).long().numpy(), prob.numpy(), 2
    if k == 2:
        prob = torch.sigmoid(logits[:, 1] - logits[:, 0])  # P(class 1); the logits are finite (checked)
        return (prob >= threshold).long().numpy(), prob.numpy(), 2
    prob = torch.softmax(logits, dim=1)
    return logits.argmax(dim=1).numpy(), prob.numpy(), k


@dataclass
class DecisionBoundary:
    """A model's predictions on a grid, and (once plotted) the artists that show them.

    Attributes:
        xx, yy: the grid coordinates, each ``(R, R)`` (``R = grid_resolution``).
        labels: predicted class of every grid point, ints ``(R, R)``.
        probabilities: binary (one or two logits): P(class 1), ``(R, R)``;
            K > 2 classes: ``(R, R, K)``.
        response: what the plot colours: ``labels`` for ``response="label"``,
            else P(class 1) (binary) or the probability of the predicted class.
        n_classes: 2 for a model with one or two logits, else K.
        n_logits: how many logits the model returns per point (1, 2 or K).
        response_kind: ``"label"`` or ``"probability"``.
        mode: the mode the model was run in (``"eval"`` or ``"train"``).
        threshold: the probability threshold used for binary labels.
        X, y: the points drawn on top (``y`` may be ``None``).
        accuracy: fraction of points with ``labels == y`` (``None`` without ``y``).
        ax, figure, surface, boundary, scatter, colorbar: matplotlib objects
            (``None`` until :meth:`plot` is called, or when not drawn). ``surface``
            is the filled artist; for K > 2 classes with ``response="probability"``
            and ``contourf`` it is a list with one contour set per class.
    """

    xx: np.ndarray
    yy: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray
    n_classes: int
    response_kind: str = "label"
    mode: str = "eval"
    threshold: float = 0.5
    X: np.ndarray | None = None
    y: np.ndarray | None = None
    accuracy: float | None = None
    n_logits: int | None = None
    ax: Axes | None = field(default=None, repr=False)
    figure: Figure | None = field(default=None, repr=False)
    surface: Any = field(default=None, repr=False)
    boundary: Any = field(default=None, repr=False)
    scatter: Any = field(default=None, repr=False)
    colorbar: Any = field(default=None, repr=False)

    @property
    def grid_resolution(self) -> int:
        return self.xx.shape[0]

    @property
    def response(self) -> np.ndarray:
        if self.response_kind == "label":
            return self.labels
        if self.n_classes == 2:
            return self.probabilities
        return self.probabilities.max(axis=2)

    def plot(
        self,
        ax: Axes | None = None,
        *,
        plot_method: str = "contourf",
        cmap: str | Colormap | None = None,
        alpha: float = 0.4,
        title: str | None = None,
        xlabel: str = "feature 1",
        ylabel: str = "feature 2",
        legend: bool = True,
        colorbar: bool = True,
        boundary_line: bool | None = None,
    ) -> DecisionBoundary:
        """Draw the boundary on ``ax`` (a new figure if ``None``) and return ``self``.

        Args:
            plot_method: ``"contourf"`` (smooth filled regions) or ``"pcolormesh"``
                (one rectangle per grid cell: shows the grid's real resolution).
            cmap: colormap name or object. Labels take K evenly spaced colours from
                it; binary probabilities use it for P(class 1). Default: the
                course's class colours (:data:`CLASS_COLORS`).
            alpha: opacity of the coloured regions, in [0, 1].
            title: the axes title; ``None`` writes the mode (and accuracy if ``y``
                was given), ``""`` leaves it empty.
            legend: add a legend of the classes (when ``y`` was given).
            colorbar: add a colour bar for ``response="probability"``.
            boundary_line: draw a thin black line where the label changes. By
                default drawn in eval mode only: in train mode the "boundary" is
                speckled noise, which shows best as coloured grid cells.
        """
        plot_method, alpha, ax, cmap = _check_drawing_args(plot_method, alpha, ax, cmap)
        return self._draw(ax, plot_method=plot_method, cmap=cmap, alpha=alpha, title=title, xlabel=xlabel,
                          ylabel=ylabel, legend=legend, colorbar=colorbar, boundary_line=boundary_line)

    def _draw(
        self,
        ax: Axes | None,
        *,
        plot_method: str,
        cmap: Colormap | None,
        alpha: float,
        title: str | None,
        xlabel: str,
        ylabel: str,
        legend: bool,
        colorbar: bool,
        boundary_line: bool | None,
    ) -> DecisionBoundary:
        """:meth:`plot` on checked arguments (``cmap`` a Colormap or ``None``)."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(7.0, 5.6))
        colors = _class_colors(self.n_classes, cmap)
        draw = getattr(ax, plot_method)
        extra = {"levels": np.arange(self.n_classes + 1) - 0.5} if plot_method == "contourf" else {}
        self.colorbar = None
        if self.response_kind == "label":
            self.surface = draw(
                self.xx, self.yy, self.labels, cmap=ListedColormap(colors), alpha=alpha,
                vmin=-0.5, vmax=self.n_classes - 0.5, zorder=0, **extra,
            )
        elif self.n_classes == 2:
            prob_cmap = binary_cmap(colors) if cmap is None else cmap
            levels = {"levels": np.linspace(0, 1, 11)} if plot_method == "contourf" else {}
            self.surface = draw(
                self.xx, self.yy, self.probabilities, cmap=prob_cmap, alpha=alpha,
                vmin=0.0, vmax=1.0, zorder=0, **levels,
            )
            if colorbar:
                self.colorbar = ax.figure.colorbar(self.surface, ax=ax, label="P(class 1)")
        else:
            self.surface = self._draw_confidence(ax, colors, alpha, plot_method)
            if colorbar:
                shades = LinearSegmentedColormap.from_list("confidence", ["#ffffff", "#303030"])
                mappable = mpl.cm.ScalarMappable(
                    norm=mpl.colors.Normalize(1.0 / self.n_classes, 1.0), cmap=shades
                )
                self.colorbar = ax.figure.colorbar(
                    mappable, ax=ax, label="probability of the predicted class\n(stronger colour = surer)"
                )
        if boundary_line is None:
            boundary_line = self.mode == "eval"
        self.boundary = self._draw_boundary_line(ax) if boundary_line else None
        self.scatter = None
        if self.X is not None:
            point_colors = (
                np.asarray(colors)[np.clip(self.y, 0, self.n_classes - 1)]
                if self.y is not None
                else "#404040"
            )
            self.scatter = ax.scatter(
                self.X[:, 0], self.X[:, 1], c=point_colors, s=28, edgecolors="black",
                linewidths=0.7, zorder=3,
            )
        if legend and self.y is not None:
            handles = [
                Line2D([], [], marker="o", linestyle="", markersize=9, markerfacecolor=c,
                       markeredgecolor="black", label=f"class {k}")
                for k, c in enumerate(colors)
            ]
            ax.legend(handles=handles, loc="upper right", framealpha=0.9,
                      ncols=1 if self.n_classes <= 4 else 2)
        ax.set_xlim(self.xx.min(), self.xx.max())
        ax.set_ylim(self.yy.min(), self.yy.max())
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(False)
        if title is None:
            title = f"{self.mode} mode"
            if self.accuracy is not None:
                title += f" · accuracy {self.accuracy:.1%}"
        ax.set_title(title)
        self.ax, self.figure = ax, ax.figure
        return self

    def _draw_confidence(self, ax: Axes, colors: list, alpha: float, plot_method: str) -> Any:
        """K classes: each cell in its class colour, paler where the model is less sure.

        ``pcolormesh``: one coloured rectangle per grid point (a ``QuadMesh``).
        ``contourf``: one filled-contour set per class, white at probability 1/K
        and full colour at 1 (a list of ``QuadContourSet``, one per class).
        """
        if plot_method == "pcolormesh":
            image = confidence_rgb(self.probabilities, colors, binary=False)
            rgba = np.concatenate([image, np.full(image.shape[:2] + (1,), alpha)], axis=2)
            return ax.pcolormesh(self.xx, self.yy, rgba, shading="nearest", zorder=0)
        k = self.n_classes
        strength = (self.probabilities.max(axis=2) - 1.0 / k) / (1.0 - 1.0 / k)
        levels = np.linspace(0.0, 1.0, 11)
        sets = []
        for label in np.unique(self.labels):
            shade = LinearSegmentedColormap.from_list(f"class_{label}", ["#ffffff", colors[label]])
            region = np.ma.masked_where(self.labels != label, strength)
            sets.append(ax.contourf(self.xx, self.yy, region, levels=levels, cmap=shade, alpha=alpha,
                                    vmin=0.0, vmax=1.0, zorder=0))
        return sets

    def _draw_boundary_line(self, ax: Axes) -> Any:
        """A thin black line where the predicted label changes (if it changes at all)."""
        if self.n_classes == 2:
            if self.labels.min() == self.labels.max():
                return None
            return ax.contour(self.xx, self.yy, self.probabilities, levels=[self.threshold],
                              colors="black", linewidths=1.5, zorder=2)
        present = np.unique(self.labels)
        if len(present) < 2:
            return None
        return ax.contour(self.xx, self.yy, self.labels, levels=np.arange(self.n_classes - 1) + 0.5,
                          colors="black", linewidths=1.0, zorder=2)


def binary_cmap(colors: Sequence) -> Colormap:
    """Class-0 colour -> white (P = 0.5) -> class-1 colour: the boundary is where it is white."""
    return LinearSegmentedColormap.from_list("course_binary", [colors[0], "#ffffff", colors[1]])


def confidence_rgb(probabilities: np.ndarray, colors: Sequence, *, binary: bool) -> np.ndarray:
    """An RGB image ``(R, R, 3)`` of a model's probabilities on a grid.

    Binary (``binary=True``, ``probabilities`` = P(class 1), shape ``(R, R)``):
    through :func:`binary_cmap`. K classes (shape ``(R, R, K)``): the predicted
    class's colour, blended with white by how sure the model is (white at
    probability 1/K, full colour at probability 1).
    """
    if binary:
        return binary_cmap(colors)(probabilities)[..., :3]
    k = probabilities.shape[-1]
    labels = probabilities.argmax(axis=-1)
    strength = (probabilities.max(axis=-1) - 1.0 / k) / (1.0 - 1.0 / k)
    rgb = np.asarray([mpl.colors.to_rgb(c) for c in colors])[labels]
    return 1.0 - strength[..., None] * (1.0 - rgb)


def class_colors(n_classes: int, cmap: str | Colormap | None = None) -> list:
    """``n_classes`` colours: the course's palette, or evenly spaced from ``cmap``."""
    return _class_colors(check_int("n_classes", n_classes, 1), _check_cmap(cmap))


def _class_colors(n_classes: int, cmap: Colormap | None) -> list:
    """:func:`class_colors` on checked arguments."""
    if cmap is None:
        if n_classes <= len(CLASS_COLORS):
            return list(CLASS_COLORS[:n_classes])
        cmap = mpl.colormaps["tab20"]
    return [cmap(v) for v in np.linspace(0, 1, n_classes)]


def _check_cmap(cmap: object) -> Colormap | None:
    """A colormap name or object as a ``Colormap`` (``None`` stays ``None``: the course's colours)."""
    if cmap is None:
        return None
    if isinstance(cmap, str):
        if cmap not in mpl.colormaps:
            raise ValueError(f"cmap {cmap!r} is not a matplotlib colormap; try 'viridis' or 'RdBu'.")
        return mpl.colormaps[cmap]
    if not isinstance(cmap, Colormap):
        raise TypeError(f"cmap must be a colormap name or a matplotlib Colormap, got {type(cmap).__name__}.")
    return cmap


def _check_drawing_args(
    plot_method: object, alpha: object, ax: object, cmap: object
) -> tuple[str, float, Axes | None, Colormap | None]:
    """The arguments of :meth:`DecisionBoundary.plot` that :func:`plot_decision_boundary` checks first."""
    plot_method = check_choice("plot_method", plot_method, list(PLOT_METHODS))
    alpha = check_number("alpha", alpha, 0.0, 1.0, what=">= 0.0 and <= 1.0")
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes (e.g. from plt.subplots()), got {type(ax).__name__}.")
    return plot_method, alpha, ax, _check_cmap(cmap)


def _check_boundary_args(
    X: object,
    y: object,
    grid_resolution: object,
    eps: object,
    response: object,
    threshold: object,
    mode: object,
    *,
    who: str,
) -> tuple[np.ndarray, np.ndarray | None, int, float, str, float, str]:
    """The data and grid arguments of :func:`compute_decision_boundary`, checked in its order."""
    points = check_points(X, who=who)
    labels = None if y is None else check_labels(y, points.shape[0])
    grid_resolution, eps = _check_grid_args(grid_resolution, eps)
    response = check_choice("response", response, list(RESPONSES))
    threshold = check_threshold(threshold)
    mode = check_choice("mode", mode, list(MODES))
    return points, labels, grid_resolution, eps, response, threshold, mode


def compute_decision_boundary(
    model: nn.Module,
    X: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor | None = None,
    *,
    grid_resolution: int = 200,
    eps: float = 0.5,
    response: str = "label",
    threshold: float = 0.5,
    mode: str = "eval",
    device: torch.device | str | None = None,
) -> DecisionBoundary:
    """Evaluate ``model`` on a grid around ``X`` without drawing anything.

    Takes the same arguments as :func:`plot_decision_boundary` (minus the
    drawing ones) and returns the :class:`DecisionBoundary` it would draw.
    """
    check_module(model)
    checked = _check_boundary_args(X, y, grid_resolution, eps, response, threshold, mode,
                                   who="compute_decision_boundary")
    return _compute(model, *checked, device=device)


def _compute(
    model: nn.Module,
    points: np.ndarray,
    labels_y: np.ndarray | None,
    grid_resolution: int,
    eps: float,
    response: str,
    threshold: float,
    mode: str,
    *,
    device: torch.device | str | None,
) -> DecisionBoundary:
    """:func:`compute_decision_boundary` on checked arguments."""
    xx, yy = _make_grid(points, grid_resolution, eps)
    grid = torch.from_numpy(np.c_[xx.ravel(), yy.ravel()])
    data = torch.from_numpy(points)
    logits = _predict_grid(model, torch.cat([grid, data]), mode, device)
    _check_logits(model, logits)
    labels, probs, n_classes = _labels_and_probabilities(logits, threshold)
    m = grid.shape[0]
    accuracy = None
    if labels_y is not None:
        if labels_y.max() >= n_classes:
            raise ValueError(
                f"y holds class label {labels_y.max()}, but the model predicts only {n_classes} "
                f"classes (labels 0..{n_classes - 1}). Is this the model for these data?"
            )
        accuracy = float((labels[m:] == labels_y).mean())
    shape = xx.shape
    return DecisionBoundary(
        xx=xx,
        yy=yy,
        labels=labels[:m].reshape(shape),
        probabilities=probs[:m].reshape(shape + probs.shape[1:]),
        n_classes=n_classes,
        response_kind=response,
        mode=mode,
        threshold=threshold,
        X=points,
        y=labels_y,
        accuracy=accuracy,
        n_logits=logits.shape[1],
    )


def plot_decision_boundary(
    model: nn.Module,
    X: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor | None = None,
    *,
    ax: Axes | None = None,
    grid_resolution: int = 200,
    eps: float = 0.5,
    response: str = "label",
    cmap: str | Colormap | None = None,
    alpha: float = 0.4,
    title: str | None = None,
    threshold: float = 0.5,
    device: torch.device | str | None = None,
    mode: str = "eval",
    plot_method: str = "contourf",
    xlabel: str = "feature 1",
    ylabel: str = "feature 2",
) -> DecisionBoundary:
    """Colour the plane by what ``model`` predicts, and draw the points ``X`` on top.

    Works for every classifier shape: binary models with one logit per point
    (sigmoid, then ``threshold``) or two logits (softmax over two classes; shown
    like the one-logit case, by P(class 1) = ``softmax(logits)[:, 1]``, labelled
    by ``P(class 1) >= threshold`` as with one logit), and multi-class models (K logits:
    softmax, then argmax).

    Args:
        model: a classifier taking ``(N, 2)`` inputs and returning logits.
        X: the points, ``(N, 2)``, NumPy or torch (any device). The grid covers them.
        y: their class labels ``(N,)`` or ``(N, 1)`` (optional): colours the points,
            adds a legend and the accuracy.
        ax: where to draw; a new figure if ``None``.
        grid_resolution: grid points per axis (2 to 1000); the model sees the
            ``grid_resolution**2`` grid points plus the N points of ``X`` (in one
            batch in train mode).
        eps: margin added around the data on every side, in data units.
        response: ``"label"`` colours by predicted class; ``"probability"`` by
            P(class 1) (binary) or by the probability of the predicted class
            (multi-class), with a colour bar.
        cmap, alpha, title, xlabel, ylabel, plot_method: see :meth:`DecisionBoundary.plot`.
        threshold: probability threshold for binary labels (one or two logits),
            in [0, 1]; not used for K > 2 classes.
        device: where to run the model; default: the device of its parameters.
        mode: ``"eval"`` (default, what a trained model is judged by) or
            ``"train"``: a teaching option that runs the forward pass in train
            mode, so dropout is active and every call draws a different boundary
            (shown without the black boundary line). Either way the model's own
            modes, grad mode and buffers are restored afterwards.

    Returns:
        A :class:`DecisionBoundary` with the grid, the values and the artists.
    """
    # Every argument is checked here, once, before any time is spent on the model;
    # the private helpers below trust them.
    check_module(model)
    plot_method, alpha, ax, cmap = _check_drawing_args(plot_method, alpha, ax, cmap)
    checked = _check_boundary_args(X, y, grid_resolution, eps, response, threshold, mode,
                                   who="plot_decision_boundary")
    shown = _compute(model, *checked, device=device)
    return shown._draw(ax, plot_method=plot_method, cmap=cmap, alpha=alpha, title=title, xlabel=xlabel,
                       ylabel=ylabel, legend=True, colorbar=True, boundary_line=None)
