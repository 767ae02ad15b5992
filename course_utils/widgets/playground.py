"""The playground's trainer: the live boundary trainer with what TensorFlow Playground lacks.

``PlaygroundTrainer`` is :class:`~course_utils.widgets.LiveBoundaryTrainer`
grown with the parts of training that depend on the mode:

* **BatchNorm on/off** after every hidden layer, and **dropout**;
* **mini-batches** of a chosen size (so BatchNorm's batch statistics matter),
  reshuffled every epoch;
* the data's **noise** and the **test share** of the split;
* the **train-mode and eval-mode boundaries side by side** while it trains.
  The train-mode picture is what the model computes with dropout active and
  BatchNorm normalising with the statistics of the batch it is given (here,
  the grid of points itself); the eval-mode one is what you deploy. Their
  disagreement is printed in the summary.

One *step* is one optimizer update on one mini-batch. Computing the pictures
never changes the model: ``predict_grid`` restores modes and buffers (running
statistics included). ``make playground`` serves this widget, the mode
explorer and the BatchNorm panel as a standalone page with Voilà.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from ..checks import check_choice, check_number
from ..models import make_mlp
from ..plotting import confidence_rgb, predict_grid
from .live_boundary import DATA_SETTINGS, ClassPoints, LiveBoundaryTrainer, _paler

__all__ = ["PlaygroundTrainer", "BATCH_SIZES"]

#: Mini-batch sizes offered; "full" is one batch of the whole training set.
BATCH_SIZES: tuple[int | str, ...] = (4, 8, 16, 32, 64, 128, "full")
MAX_NOISE = 0.5


class PlaygroundTrainer(LiveBoundaryTrainer):
    """Train an MLP live, with BatchNorm, dropout and mini-batches, and compare the two modes.

    Args (besides :class:`LiveBoundaryTrainer`'s):
        batchnorm: a ``BatchNorm1d`` after every hidden layer.
        batch_size: one of :data:`BATCH_SIZES` (``"full"``: the whole training set).
        noise: the data's noise (0 to 0.5); ``None`` uses the data set's default.
        test_share: the share of the points held out for testing (0.1 to 0.5).

    Attributes:
        state: :class:`LiveBoundaryTrainer`'s, plus ``batchnorm``, ``batch_size``,
            ``noise``, ``test_share``, ``n_train``, ``n_test``, ``epoch``,
            ``train_grid_labels`` (the train-mode picture's labels) and
            ``mode_disagreement`` (the share of grid points whose label differs
            between the two modes).
    """

    FIGSIZE = (14.0, 4.4)

    def __init__(
        self,
        dataset: str = "moons",
        hidden_width: int = 16,
        depth: int = 2,
        activation: str = "relu",
        lr: float = 0.02,
        dropout: float = 0.2,
        batchnorm: bool = True,
        batch_size: int | str = 16,
        noise: float | None = None,
        test_share: float = 0.3,
        steps_per_frame: int = 5,
        seed: int = 0,
        grid_resolution: int = 60,
        max_frames: int = 400,
        max_fps: float = 60.0,
    ):
        if not isinstance(batchnorm, bool):
            raise TypeError(f"batchnorm must be True or False, got {batchnorm!r}")
        check_choice("batch_size", batch_size, BATCH_SIZES)
        if noise is None:
            noise = DATA_SETTINGS.get(dataset, {}).get("noise", 0.1)
        noise = check_number("noise", noise, 0.0, MAX_NOISE)
        test_share = check_number("test_share", test_share, 0.1, 0.5)
        style = {"description_width": "initial"}
        self.batchnorm = widgets.Checkbox(value=batchnorm, description="BatchNorm", indent=False)
        self.batch_size = widgets.Dropdown(
            options=list(BATCH_SIZES), value=batch_size, description="batch size", style=style
        )
        self.noise = widgets.FloatSlider(
            value=float(noise), min=0.0, max=MAX_NOISE, step=0.01, description="noise", style=style
        )
        self.test_share = widgets.FloatSlider(
            value=float(test_share), min=0.1, max=0.5, step=0.05, description="test share", style=style
        )
        self._epoch_order: list[torch.Tensor] = []
        self.epoch = 0
        self.mode_disagreement = 0.0
        super().__init__(
            dataset=dataset, hidden_width=hidden_width, depth=depth, activation=activation,
            lr=lr, dropout=dropout, steps_per_frame=steps_per_frame, seed=seed,
            grid_resolution=grid_resolution, max_frames=max_frames, max_fps=max_fps,
        )
        self.controls[6:6] = [self.batchnorm, self.batch_size, self.noise, self.test_share]
        self.batchnorm.observe(self._on_model_change, names="value")
        self.batch_size.observe(self._on_model_change, names="value")
        for control in (self.noise, self.test_share):
            control.observe(self._on_data_change, names="value")

    # ------------------------------------------------------------------
    # Layout and figure
    # ------------------------------------------------------------------

    def layout(self) -> widgets.Widget:
        rows = [
            widgets.HBox([self.dataset, self.noise, self.test_share]),
            widgets.HBox([self.depth, self.width, self.activation]),
            widgets.HBox([self.dropout, self.batchnorm, self.batch_size, self.lr]),
            widgets.HBox([self.train_button, self.stop_button, self.reset_button]),
        ]
        return widgets.VBox([*rows, self.host.widget, self.summary])

    def _build_figure(self) -> None:
        super()._build_figure()
        fig = self.figure
        # Three panels: train-mode boundary, eval-mode boundary, loss curves.
        self.ax_train = fig.add_axes((0.045, 0.14, 0.26, 0.76))
        self.ax_boundary.set_position((0.345, 0.14, 0.26, 0.76))
        self.ax_loss.set_position((0.68, 0.14, 0.305, 0.76))
        r = self.grid_resolution
        self.train_image = self.ax_train.imshow(
            np.ones((r, r, 3)), origin="lower", aspect="auto", interpolation="bilinear", zorder=0
        )
        self.train_points = ClassPoints(self.ax_train, size=4.0)
        self.ax_train.set_title("Train mode (dropout on, batch stats)")
        self.ax_boundary.set_title("Eval mode (what you deploy)")
        for ax in (self.ax_train, self.ax_boundary):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        self.ax_train.set_xlabel("feature 1")
        self.ax_train.set_ylabel("feature 2")
        self.ax_boundary.set_ylabel("")
        self.ax_loss.set_xlabel("optimizer step (one mini-batch)")
        for line in self.points.lines:
            line.set_markersize(4.0)
        self.host.animate(
            self.train_image, *self.train_points.artists, self.image, *self.points.artists,
            self.train_line, self.test_line,
        )

    # ------------------------------------------------------------------
    # Data, model, training
    # ------------------------------------------------------------------

    def _data_settings(self) -> dict[str, Any]:
        return {
            **super()._data_settings(),
            "noise": float(self.noise.value),
            "test_size": float(self.test_share.value),
        }

    def _data_key(self) -> Any:
        return (self.dataset.value, self.noise.value, self.test_share.value)

    def reset(self) -> None:
        """Fresh model (same seed) for the current settings, reloading the data if it changed."""
        self.epoch = 0
        self._epoch_order = []
        super().reset()

    def _draw_data(self) -> None:
        super()._draw_data()
        self.train_points.set_data(
            self.data.X_train.numpy(), self.data.y_train.reshape(-1).long().numpy(), self._colors
        )
        self.train_image.set_extent(self._extent)
        self.ax_train.set_xlim(self._extent[:2])
        self.ax_train.set_ylim(self._extent[2:])

    def _build_model(self) -> None:
        out = 1 if self.data.n_classes == 2 else self.data.n_classes
        dropout = self.dropout.value if self.depth.value > 0 else 0.0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.model = make_mlp(
                2, out, hidden=(self.width.value,) * self.depth.value,
                activation=self.activation.value, dropout=dropout,
                batchnorm=bool(self.batchnorm.value) and self.depth.value > 0,
            )
            self._rng_state = torch.get_rng_state()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr.value)

    def _batch_size(self) -> int:
        n = self.data.X_train.shape[0]
        size = self.batch_size.value
        return n if size == "full" else min(int(size), n)

    def _next_batch(self) -> torch.Tensor:
        """Indices of the next mini-batch; a new shuffle every epoch. A last batch of
        one sample is merged into the one before (BatchNorm cannot train on it)."""
        if not self._epoch_order:
            n, size = self.data.X_train.shape[0], self._batch_size()
            order = torch.randperm(n)
            batches = list(order.split(size))
            if len(batches) > 1 and batches[-1].numel() == 1:
                last = batches.pop()
                batches[-1] = torch.cat([batches[-1], last])
            self._epoch_order = batches
            self.epoch += 1
        return self._epoch_order.pop(0)

    def _measure(self) -> None:
        super()._measure()
        if self.diverged:
            return
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self._rng_state)  # the train-mode picture's dropout masks
            logits = predict_grid(self.model, self._grid, mode="train")
            self._rng_state = torch.get_rng_state()
        self.train_grid_labels, self.train_grid_probabilities = self._grid_prediction(logits)
        self.mode_disagreement = float((self.train_grid_labels != self.grid_labels).mean())

    def _render(self, status: str | None = None, redraw: bool = True) -> None:
        if not self.diverged and hasattr(self, "train_grid_probabilities"):
            binary = self.data.n_classes == 2
            rgb = confidence_rgb(self.train_grid_probabilities, self._colors, binary=binary)
            self.train_image.set_data(_paler(rgb))
        super()._render(status=status, redraw=False)
        n_train, n_test = self.data.X_train.shape[0], self.data.X_test.shape[0]
        size = self._batch_size()
        self.state.update(
            batchnorm=bool(self.batchnorm.value), batch_size=size, noise=float(self.noise.value),
            test_share=float(self.test_share.value), n_train=n_train, n_test=n_test,
            epoch=self.epoch, train_grid_labels=self.train_grid_labels.copy(),
            mode_disagreement=self.mode_disagreement,
        )
        if redraw:
            self.refresh()

    def _summary_extra(self) -> str:
        n_train, n_test = self.data.X_train.shape[0], self.data.X_test.shape[0]
        return (
            f"<br>BatchNorm {'on' if self.batchnorm.value and self.depth.value > 0 else 'off'} · "
            f"batch size {self._batch_size()} ({n_train} training points, {n_test} test) · "
            f"epoch {self.epoch} · noise {self.noise.value:.2f} · train-mode and eval-mode "
            f"boundaries disagree on <b>{self.mode_disagreement:.0%}</b> of the picture"
        )

    def _on_data_change(self, _change: Any = None) -> None:
        self.reset()


