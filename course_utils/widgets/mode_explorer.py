"""Widgets for notebook 02: what Dropout and BatchNorm do in each mode.

* :class:`ModeExplorer` runs a small ``Linear -> BatchNorm1d -> ReLU -> Dropout``
  block on a fixed batch. Toggle train/eval, click "New forward pass" and move
  the dropout slider: the dropout mask, one sample's outputs and the BatchNorm
  running statistics update live (train-mode passes move the running stats,
  eval-mode passes do not).
* :class:`BatchNormPanel` trains a ``BatchNorm1d`` on batches drawn from a known
  population, then normalises the same samples twice: in train mode (each batch
  with its own statistics) and in eval mode (with the running statistics). Small
  batches make the two disagree.

Both widgets own a ``torch.Generator`` seeded from ``seed``, so what they show
is reproducible and never disturbs the notebook's global random state. Every
callback updates ``.summary`` (an HTML widget; ``summary_text()`` gives its
text) and ``.state`` (a dict of numbers and arrays) for tests.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from typing import Any

import ipywidgets as widgets
import matplotlib
import numpy as np
import torch
from matplotlib.patches import Rectangle
from torch import nn

from ..checks import check_choice, check_int, check_momentum, check_number, check_seed
from ..style import EVAL_COLOR, TRAIN_COLOR
from ._base import CourseWidget

__all__ = ["ModeExplorer", "BatchNormPanel"]

MODES = ("train", "eval")
OUT_BOTTOM = 0.05  # ModeExplorer's middle panel: y range (-OUT_BOTTOM, 1) x its top
OUT_TICK_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)  # its ticks, as fractions of the top
PTS_XLIM, PTS_YLIM = 8.0, 4.0  # BatchNormPanel's fixed view: eval-mode (x) and train-mode (y) outputs


#: How the widgets' errors call a valid count: "n_samples must be a whole number between 2 and 256".
_WHOLE = "a whole number"


def _legend_below(ax: Any, handles: list[Any]) -> None:
    """A figure legend at the bottom edge, centred under ``ax``: static, so rendered once."""
    box = ax.get_position()
    ax.figure.legend(handles=handles, loc="lower center", ncols=2, fontsize=10,
                     bbox_to_anchor=((box.x0 + box.x1) / 2, 0.0), frameon=False)


def _set_heights(bars, heights: np.ndarray) -> None:
    for rect, height in zip(bars, heights, strict=True):
        rect.set_height(float(height))


# ---------------------------------------------------------------------------
# ModeExplorer
# ---------------------------------------------------------------------------


class ModeExplorer(CourseWidget):
    """Toggle train/eval and watch a dropout mask, one sample's outputs and BatchNorm's running stats.

    The model is ``Linear(n_features, n_units) -> BatchNorm1d -> ReLU -> Dropout(p)``
    applied to a fixed batch of ``n_samples`` inputs. Every control runs one
    forward pass (except "Reset running stats"); passes in train mode draw a
    new dropout mask and update the BatchNorm running statistics, passes in
    eval mode do neither.

    Args:
        p: dropout probability, in ``[0, 1)``.
        seed: seeds the widget's own generator (inputs, weights, dropout masks).
        mode: the starting mode, ``"train"`` or ``"eval"``.
        n_samples: batch size (at least 2, as BatchNorm needs in train mode).
        n_features: input features per sample.
        n_units: units in the hidden layer (columns of the mask image).
        momentum: BatchNorm momentum, in ``(0, 1]``.
        sample: which row of the batch the middle panel shows.

    Controls: :attr:`mode_toggle`, :attr:`pass_button`, :attr:`p_slider`,
    :attr:`reset_button`. ``state`` holds ``mode``, ``p``, ``mask`` (0/1 array,
    samples x units), ``kept_fraction``, ``scale``, ``before_dropout``,
    ``output``, ``running_mean``, ``running_var``, ``batch_mean``,
    ``batch_var``, ``passes`` and ``train_passes``.
    """

    def __init__(
        self,
        p: float = 0.5,
        seed: int = 0,
        mode: str = "train",
        n_samples: int = 16,
        n_features: int = 4,
        n_units: int = 12,
        momentum: float = 0.1,
        sample: int = 0,
    ):
        p = check_number("p", p, 0.0, 1.0)
        if p >= 1.0:
            raise ValueError(
                "p must be below 1: with p=1 dropout zeroes every unit and the 1/(1-p) "
                "rescaling divides by zero. Use a value in [0, 1), for example p=0.5."
            )
        seed = check_seed(seed, high=None)
        check_choice("mode", mode, list(MODES))
        n_samples = check_int("n_samples", n_samples, 2, 256, kind=_WHOLE)
        n_features = check_int("n_features", n_features, 1, 64, kind=_WHOLE)
        n_units = check_int("n_units", n_units, 1, 64, kind=_WHOLE)
        momentum = check_momentum(momentum)
        sample = check_int("sample", sample, 0, n_samples - 1, kind=_WHOLE)
        super().__init__(figsize=(13.0, 4.4))

        self.sample = sample
        self._gen = torch.Generator().manual_seed(seed)
        # Inputs with a non-zero mean, so the running stats have somewhere to go.
        self.inputs = 1.0 + 1.5 * torch.randn(n_samples, n_features, generator=self._gen)
        with torch.random.fork_rng(devices=[]):  # nn.Linear's default init must not use up
            linear = nn.Linear(n_features, n_units)  # the notebook's random numbers
        with torch.no_grad():  # the weights come from the widget's own generator
            scale = 1.0 / math.sqrt(n_features)
            linear.weight.copy_(scale * torch.randn(n_units, n_features, generator=self._gen))
            linear.bias.copy_(torch.randn(n_units, generator=self._gen))
        self.model = nn.Sequential(
            OrderedDict(
                linear=linear,
                bn=nn.BatchNorm1d(n_units, momentum=momentum),
                relu=nn.ReLU(),
                dropout=nn.Dropout(p),
            )
        )
        self.model.train(mode == "train")
        with torch.no_grad():
            hidden = linear(self.inputs)
        self.batch_mean = hidden.mean(0).numpy()
        self.batch_var = hidden.var(0).numpy()  # unbiased, like running_var
        self.passes = 0
        self.train_passes = 0

        self.mode_toggle = widgets.ToggleButtons(options=list(MODES), value=mode, description="mode")
        self.pass_button = widgets.Button(
            description="New forward pass", icon="refresh", layout=widgets.Layout(width="auto")
        )
        self.p_slider = widgets.FloatSlider(
            value=p, min=0.0, max=max(0.9, p), step=0.05, description="dropout p", readout_format=".2f"
        )
        self.reset_button = widgets.Button(description="Reset running stats")
        self.controls = [self.mode_toggle, self.pass_button, self.p_slider, self.reset_button]

        self._build_figure(n_samples, n_units)
        self.mode_toggle.observe(self._on_mode, names="value")
        self.p_slider.observe(self._on_p, names="value")
        self.pass_button.on_click(self._on_pass)
        self.reset_button.on_click(self._on_reset)
        self._forward()
        self._render(refresh=False)  # the figure is drawn when the widget is displayed

    @property
    def mode(self) -> str:
        """The current mode, ``"train"`` or ``"eval"``."""
        return self.mode_toggle.value

    def layout(self) -> widgets.Widget:
        top = widgets.HBox([self.mode_toggle, self.pass_button])
        bottom = widgets.HBox([self.p_slider, self.reset_button])
        return widgets.VBox([top, bottom, self.host.widget, self.summary])

    # -- figure ---------------------------------------------------------------
    def _build_figure(self, n_samples: int, n_units: int) -> None:
        ax_mask, ax_out, ax_stats = self.figure.subplots(
            1, 3, gridspec_kw={"width_ratios": [1.0, 1.3, 1.3]}
        )
        units = np.arange(n_units)
        self._mask_image = ax_mask.imshow(
            np.ones((n_samples, n_units)), cmap="gray", vmin=0, vmax=1, aspect="auto",
            interpolation="nearest",
        )
        frame = ax_mask.add_patch(
            Rectangle((-0.5, self.sample - 0.5), n_units, 1, fill=False, edgecolor=TRAIN_COLOR, lw=2.5)
        )
        ax_mask.set(xlabel="unit", ylabel="sample in the batch")
        ax_mask.grid(False)
        for spine in ax_mask.spines.values():  # frame the all-white eval-mode mask
            spine.set_visible(True)

        zeros = np.zeros(n_units)
        self._out_bars = ax_out.bar(units, zeros, width=0.7, label="after dropout")
        (self._before_line,) = ax_out.plot(
            units, zeros, "o", color="0.25", ms=7, label="after ReLU (dropout's input)"
        )
        out_zero = ax_out.axhline(0.0, color="0.5", lw=1)
        ax_out.set(xlabel="unit", ylabel="activation")
        # The y range scales with 1/(1-p), but always as (-0.05, 1) x top with ticks at
        # fixed fractions of top: ticks and grid lines never move on screen, only the
        # numbers next to them change. Those are our own (animated) texts, so a slider
        # jump never re-renders the axes.
        ax_out.tick_params(axis="y", labelleft=False)
        ax_out.yaxis.set_label_coords(-0.13, 0.5)
        size = matplotlib.rcParams["ytick.labelsize"]
        self._out_ticks = [
            ax_out.text(-0.025, (OUT_BOTTOM + f) / (OUT_BOTTOM + 1.0), "", transform=ax_out.transAxes,
                        ha="right", va="center", fontsize=size)
            for f in OUT_TICK_FRACTIONS
        ]
        self._out_legend = ax_out.legend(loc="upper right", fontsize=10)

        w = 0.38
        self._mean_bars = ax_stats.bar(units - w / 2, zeros, w, color="#009e73", label="running_mean")
        self._var_bars = ax_stats.bar(units + w / 2, zeros, w, color="#cc79a7", label="running_var")
        targets = ax_stats.plot(units - w / 2, self.batch_mean, "_", color="k", ms=14, mew=2.5,
                                label="batch mean / var (target)")
        targets += ax_stats.plot(units + w / 2, self.batch_var, "_", color="k", ms=14, mew=2.5)
        stats_zero = ax_stats.axhline(0.0, color="0.5", lw=1)
        ax_stats.set(xlabel="unit", ylabel="value")
        ax_stats.legend(loc="upper right", fontsize=10)
        low = min(0.0, float(self.batch_mean.min()))
        high = max(1.0, float(self.batch_var.max()), float(self.batch_mean.max()))
        ax_stats.set_ylim(low - 0.15 * (high - low), high + 0.6 * (high - low))
        self._axes = (ax_mask, ax_out, ax_stats)
        # What an update changes, and what lies on top of it, is redrawn; axes,
        # ticks and labels are rendered once.
        self.host.animate(
            self._mask_image, frame, ax_mask.title,
            *self._out_bars, self._before_line, out_zero, self._out_legend, ax_out.title, *self._out_ticks,
            *self._mean_bars, *self._var_bars, *targets, stats_zero, ax_stats.title,
        )
        self._out_ylim: tuple[float, float] | None = None

    # -- callbacks ------------------------------------------------------------
    def _on_mode(self, change: dict) -> None:
        self.model.train(change["new"] == "train")
        self.update()

    def _on_p(self, change: dict) -> None:
        self.model.dropout.p = float(change["new"])
        self.update()

    def _on_pass(self, _button: Any = None) -> None:
        self.update()

    def _on_reset(self, _button: Any = None) -> None:
        self.model.bn.reset_running_stats()
        self.passes = self.train_passes = 0
        self._render()

    # -- computation ----------------------------------------------------------
    def _forward(self) -> None:
        """One forward pass of the real layers; the mask comes from the same RNG draw."""
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self._gen))
        m = self.model
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            before = m.relu(m.bn(m.linear(self.inputs)))  # train mode: updates running stats
            torch.manual_seed(seed)
            output = m.dropout(before)
            torch.manual_seed(seed)  # replay the same draw on ones: the mask itself
            scaled_mask = m.dropout(torch.ones_like(before))
        self._before = before.numpy()
        self._output = output.numpy()
        self._mask = (scaled_mask != 0).numpy().astype(float)
        self._scale = float(scaled_mask.max())
        self.passes += 1
        self.train_passes += int(m.training)

    def update(self, *_: Any) -> None:
        """Run one forward pass in the current mode and redraw."""
        self._forward()
        self._render()

    def _render(self, refresh: bool = True) -> None:
        mode = self.mode
        colour = TRAIN_COLOR if mode == "train" else EVAL_COLOR
        p = float(self.model.dropout.p)
        kept = float(self._mask.mean())
        running_mean = self.model.bn.running_mean.numpy().copy()
        running_var = self.model.bn.running_var.numpy().copy()

        ax_mask, ax_out, ax_stats = self._axes
        self._mask_image.set_data(self._mask)
        ax_mask.set_title(f"dropout mask (p={p:.2f}), {mode} mode\n(white = kept: {kept:.0%})")
        _set_heights(self._out_bars, self._output[self.sample])
        for rect in self._out_bars:
            rect.set_color(colour)
        self._out_legend.legend_handles[1].set_color(colour)
        self._before_line.set_ydata(self._before[self.sample])
        # Headroom for the legend above the tallest bar; powers of two (1, 2, 4, 8...)
        # so the axis, drawn once with the static layer, rarely needs rescaling.
        top = max(1.0, float(self._before.max()) / (1.0 - p)) * 1.45
        top = float(2 ** np.ceil(np.log2(top)))
        if self._out_ylim != (-OUT_BOTTOM * top, top):  # same pixels for ticks, new numbers
            self._out_ylim = (-OUT_BOTTOM * top, top)
            ax_out.set_ylim(*self._out_ylim)
            ax_out.set_yticks([f * top for f in OUT_TICK_FRACTIONS])
            for text, f in zip(self._out_ticks, OUT_TICK_FRACTIONS, strict=True):
                text.set_text(f"{f * top:g}")
        ax_out.set_title(f"sample {self.sample} (framed row)\nkept units scaled by {self._scale:.2f}")
        _set_heights(self._mean_bars, running_mean)
        _set_heights(self._var_bars, running_var)
        ax_stats.set_title(f"BatchNorm running stats\n({self.train_passes} train-mode passes)")

        if mode == "train":
            drop = f"kept {kept:.0%} of units · scale {self._scale:.2f}"
            bn = "BatchNorm uses the batch's statistics and updates its running stats"
        else:
            drop = f"dropout is the identity: kept {kept:.0%} of units · scale {self._scale:.2f}"
            bn = "BatchNorm uses its running stats and leaves them alone"
        self.summary.value = (
            f"mode: {mode} · p={p:.2f} · {drop} · {bn} · "
            f"running_mean[0]={running_mean[0]:.3f} (target {self.batch_mean[0]:.3f}) · "
            f"running_var[0]={running_var[0]:.3f} (target {self.batch_var[0]:.3f}) · "
            f"passes: {self.passes} ({self.train_passes} in train mode)"
        )
        self.state = {
            "mode": mode,
            "p": p,
            "mask": self._mask.copy(),
            "kept_fraction": kept,
            "scale": self._scale,
            "before_dropout": self._before.copy(),
            "output": self._output.copy(),
            "running_mean": running_mean,
            "running_var": running_var,
            "batch_mean": self.batch_mean.copy(),
            "batch_var": self.batch_var.copy(),
            "passes": self.passes,
            "train_passes": self.train_passes,
        }
        if refresh:
            self.host.refresh()


# ---------------------------------------------------------------------------
# BatchNormPanel
# ---------------------------------------------------------------------------


class BatchNormPanel(CourseWidget):
    """Train-mode vs eval-mode BatchNorm outputs for the same samples.

    A ``BatchNorm1d(1, momentum=..., affine=False)`` first sees ``n_batches``
    training batches of ``batch_size`` values drawn from a normal population
    (mean ``loc``, standard deviation ``scale``), which sets its running
    statistics. Then about ``n_points`` fresh values, in batches of
    ``batch_size``, are normalised twice: in train mode (each batch with its own
    mean and variance) and in eval mode (with the running statistics). The left
    panel plots one against the other; the right panel shows the running
    statistics converging during training.

    Every setting is recomputed from ``seed``, so the same settings always give
    the same picture.

    Controls: :attr:`batch_size_slider`, :attr:`momentum_slider`,
    :attr:`n_batches_slider`. ``state`` holds ``batch_size``, ``momentum``,
    ``n_batches``, ``running_mean``, ``running_var``, ``population_mean``,
    ``population_var``, ``inputs`` (the raw test values, batch after batch),
    ``train_out``, ``eval_out``, ``mean_abs_diff``, ``max_abs_diff`` and
    ``n_beyond_axes`` (points outside the fixed view, drawn at its edge).
    """

    def __init__(
        self,
        batch_size: int = 8,
        momentum: float = 0.1,
        n_batches: int = 100,
        seed: int = 0,
        loc: float = 3.0,
        scale: float = 2.0,
        n_points: int = 64,
    ):
        batch_size = check_int("batch_size", batch_size, 2, 64, kind=_WHOLE)
        momentum = check_momentum(momentum)
        n_batches = check_int("n_batches", n_batches, 1, 500, kind=_WHOLE)
        self.seed = check_seed(seed, high=None)
        loc = check_number("loc", loc, -100.0, 100.0)
        scale = check_number("scale (the population's standard deviation)", scale, 1e-3, 100.0)
        self.n_points = check_int("n_points", n_points, 2, 1024, kind=_WHOLE)
        self.loc, self.scale = float(loc), float(scale)
        super().__init__(figsize=(12.0, 4.6))

        self.batch_size_slider = widgets.IntSlider(
            value=batch_size, min=2, max=64, step=1, description="batch size"
        )
        self.momentum_slider = widgets.FloatSlider(
            value=momentum, min=0.01, max=1.0, step=0.01, description="momentum",
            readout_format=".2f",
        )
        self.n_batches_slider = widgets.IntSlider(
            value=n_batches, min=1, max=500, step=1, description="train batches"
        )
        self.controls = [self.batch_size_slider, self.momentum_slider, self.n_batches_slider]
        self._build_figure()
        for control in self.controls:
            control.observe(self.update, names="value")
        self._recompute()  # the figure is drawn when the widget is displayed

    def _build_figure(self) -> None:
        fig = self.figure
        fig.set_layout_engine("none")  # fixed positions (the course style turns on constrained layout)
        grid = fig.add_gridspec(1, 2, left=0.08, right=0.98, bottom=0.27, top=0.85, wspace=0.25)
        ax_pts, ax_run = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
        (self._diagonal,) = ax_pts.plot([-1, 1], [-1, 1], "--", color="0.4", lw=1.5,
                                        label="train = eval")
        self._points = ax_pts.scatter([0.0], [0.0], c=[0.0], cmap="viridis", s=36,
                                      edgecolors="k", linewidths=0.4, label="one sample (colour: its batch)")
        # Beyond the axis range: drawn at its edge, ringed, and counted in the title.
        self._beyond = ax_pts.scatter([], [], s=110, facecolors="none", edgecolors="#d55e00",
                                      linewidths=1.6, label="beyond the axis range (drawn at its edge)")
        # Fixed ranges, so no slider ever rescales (and re-renders) this axes. Train-mode
        # outputs are standardised within their batch and lie within +-3 or so; eval-mode
        # outputs spread further when the running statistics are off, and only the
        # extreme settings (say momentum 1 with batches of 2) throw some past +-8.
        ax_pts.set_xlim(-PTS_XLIM, PTS_XLIM)
        ax_pts.set_ylim(-PTS_YLIM, PTS_YLIM)
        self._diagonal.set_data([-PTS_YLIM, PTS_YLIM], [-PTS_YLIM, PTS_YLIM])
        ax_pts.set(xlabel="eval-mode output (running stats)",
                   ylabel="train-mode output\n(its own batch's stats)")
        # Below the axes, not inside: the points never hide it, and it never has to be redrawn.
        _legend_below(ax_pts, [self._diagonal, self._points, self._beyond])

        (self._mean_line,) = ax_run.plot([], [], color="#009e73", label="running_mean")
        (self._std_line,) = ax_run.plot([], [], color="#cc79a7", label="sqrt(running_var)")
        ax_run.axhline(self.loc, color="#009e73", ls="--", lw=1.5, label="population mean")
        ax_run.axhline(self.scale, color="#cc79a7", ls="--", lw=1.5, label="population std")
        # A log scale over the slider's whole extent: the first few batches (where the
        # running statistics move most) stay readable next to 500, and no slider ever
        # rescales this axis.
        ax_run.set_xscale("log")
        ax_run.set_xlim(0.8, 600)
        ax_run.set(xlabel="training batches seen (log scale)", ylabel="value")
        # A value range fixed by the population, not by the sliders: the running mean
        # stays within a few standard deviations of it (and starts at 0), the running
        # std below three of them.
        low = min(0.0, self.loc - 3.0 * self.scale)
        high = max(self.loc + 3.0 * self.scale, 3.0 * self.scale)
        span = high - low
        ax_run.set_ylim(low - 0.05 * span, high + 0.25 * span)
        _legend_below(ax_run, ax_run.get_legend_handles_labels()[0])
        self._axes = (ax_pts, ax_run)
        # Only these change with the sliders; everything else is rendered once.
        self.host.animate(self._points, self._beyond, ax_pts.title,
                          self._mean_line, self._std_line, ax_run.title)

    def update(self, *_: Any) -> None:
        """Retrain the running statistics for the current settings and redraw."""
        self._recompute()
        self.host.refresh()

    def _recompute(self) -> None:
        """Run the experiment for the current slider values; update artists, summary, state."""
        batch_size = int(self.batch_size_slider.value)
        momentum = float(self.momentum_slider.value)
        n_batches = int(self.n_batches_slider.value)
        gen = torch.Generator().manual_seed(self.seed)

        bn = nn.BatchNorm1d(1, momentum=momentum, affine=False)
        train_data = self.loc + self.scale * torch.randn(n_batches, batch_size, 1, generator=gen)
        means, stds = [], []
        with torch.no_grad():
            for batch in train_data:
                bn(batch)  # train mode: updates running_mean / running_var
                means.append(float(bn.running_mean[0]))
                stds.append(math.sqrt(float(bn.running_var[0])))
            n_test = max(1, self.n_points // batch_size)
            test = self.loc + self.scale * torch.randn(n_test, batch_size, 1, generator=gen)
            # Train mode on a copy, so these batches do not move the stats we compare with.
            bn_train = copy.deepcopy(bn)
            train_out = torch.cat([bn_train(batch) for batch in test]).flatten().numpy()
            bn.eval()
            eval_out = bn(test.reshape(-1, 1)).flatten().numpy()
        diff = np.abs(train_out - eval_out)
        running_mean = float(bn.running_mean[0])
        running_var = float(bn.running_var[0])

        ax_pts, ax_run = self._axes
        points = np.column_stack([eval_out, train_out])
        limits = np.array([PTS_XLIM, PTS_YLIM]) * 0.98  # just inside the frame
        outside = (np.abs(points) > limits).any(axis=1)
        shown = np.clip(points, -limits, limits)
        self._points.set_offsets(shown)
        self._points.set_array(np.repeat(np.arange(n_test), batch_size).astype(float))
        self._points.set_clim(0, max(1, n_test - 1))
        self._beyond.set_offsets(shown[outside] if outside.any() else np.empty((0, 2)))
        n_outside = int(outside.sum())
        beyond = f" · {n_outside} beyond the axes" if n_outside else ""
        ax_pts.set_title(f"same samples, two modes\nmean |train − eval| = {diff.mean():.3f}{beyond}")
        steps = np.arange(1, n_batches + 1)
        self._mean_line.set_data(steps, means)
        self._std_line.set_data(steps, stds)
        ax_run.set_title(f"running stats while training\n(batch size {batch_size}, momentum {momentum:.2f})")

        self.summary.value = (
            f"batch size {batch_size} · momentum {momentum:.2f} · {n_batches} training batches"
            f" · running_mean {running_mean:.3f} (population {self.loc:.3f})"
            f" · running_var {running_var:.3f} (population {self.scale**2:.3f})"
            f" · mean |train − eval| = {diff.mean():.3f} over {diff.size} samples"
        )
        self.state = {
            "batch_size": batch_size,
            "momentum": momentum,
            "n_batches": n_batches,
            "running_mean": running_mean,
            "running_var": running_var,
            "population_mean": self.loc,
            "population_var": self.scale**2,
            "train_out": train_out,
            "eval_out": eval_out,
            "mean_abs_diff": float(diff.mean()),
            "max_abs_diff": float(diff.max()),
            "n_beyond_axes": n_outside,
            "inputs": test.flatten().numpy(),
        }
