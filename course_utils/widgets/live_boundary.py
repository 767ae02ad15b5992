"""Watch a decision boundary form while a small MLP trains.

``LiveBoundaryTrainer()`` shows controls for the data set and the model
(width, depth, activation, dropout, learning rate), a Train / Stop / Reset
row, the boundary (an image of the eval-mode probabilities on a grid, with the
training points on top) and the loss curves.

Training runs as an ``asyncio`` task on the kernel's event loop, one *frame*
at a time: ``steps_per_frame`` optimizer steps, then one redraw, then
``await asyncio.sleep(...)`` so the kernel can handle the Stop click (and run
other cells) between frames. :meth:`LiveBoundaryTrainer.step` does the same
work synchronously, for tests, benchmarks and static notebooks.

Every frame trains in **train mode** (dropout active) and measures in **eval
mode** (the boundary, test loss and both accuracies), exactly like a real
training loop.

Drawing is kept cheap so a frame fits in well under 1/15 s on a laptop CPU.
With ipympl (``%matplotlib widget``) the figure is redrawn with
``draw_idle()``. Without it, the widget *blits*: the axes, ticks and labels
are rendered once into a background (again only when an axis range changes),
and each frame only restores that background, draws the boundary image, the
points and the two loss lines, and sends the result as a JPEG to an
``ipywidgets.Image``.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from torch import nn

from ..checks import check_choice, check_int, check_number
from ..conversions import accuracy
from ..data import DATASETS, Split, make_dataset
from ..models import ACTIVATIONS, make_mlp
from ..plotting import class_colors, confidence_rgb, predict_grid
from ..style import EVAL_COLOR, TRAIN_COLOR
from ._base import CourseWidget, display_widget

__all__ = ["LiveBoundaryTrainer"]

#: How each data set is generated: noisy enough that the boundary has to work.
DATA_SETTINGS: dict[str, dict[str, Any]] = {
    "circles": {"noise": 0.1},
    "moons": {"noise": 0.2},
    "blobs": {"noise": 0.05, "n_classes": 4},
}
N_SAMPLES = 400
MAX_WIDTH = 64
MAX_DEPTH = 4
MAX_DROPOUT = 0.8
IMAGE_OPACITY = 0.6  # the boundary image is blended with white
JPEG_QUALITY = 90
LOSS_RANGE = (1e-3, 3.0)  # the loss axis (log scale)
FIRST_XMAX = 100.0  # the step axis starts at 0-100 and doubles when training passes its end


class ClassPoints:
    """A scatter of labelled points drawn as one marker line per class.

    Agg draws a line's markers from one cached stamp, several times faster than
    a ``scatter`` collection with per-point colours: it matters at many frames
    a second.
    """

    def __init__(self, ax: Any, size: float = 5.0, max_classes: int = 8):
        self.lines = [
            ax.plot([], [], linestyle="none", marker="o", markersize=size, markeredgecolor="black",
                    markeredgewidth=0.5, zorder=2)[0]
            for _ in range(max_classes)
        ]

    @property
    def artists(self) -> list[Any]:
        return list(self.lines)

    def set_data(self, X: np.ndarray, y: np.ndarray, colors: Any) -> None:
        """Points ``X`` (N, 2) with class labels ``y`` (N,), class ``k`` in ``colors[k]``."""
        if len(colors) > len(self.lines):
            raise ValueError(f"at most {len(self.lines)} classes can be drawn, got {len(colors)}")
        for k, line in enumerate(self.lines):
            mine = X[y == k] if k < len(colors) else X[:0]
            line.set_data(mine[:, 0], mine[:, 1])
            if k < len(colors):
                line.set_markerfacecolor(colors[k])

    def offsets(self) -> np.ndarray:
        """All drawn points, class by class (for tests)."""
        return np.concatenate([np.column_stack(line.get_data()) for line in self.lines])


class LiveBoundaryTrainer(CourseWidget):
    """Train an MLP on a 2-D data set and watch its decision boundary change live.

    Args:
        dataset: ``"circles"``, ``"moons"`` or ``"blobs"`` (4 classes).
        hidden_width: neurons per hidden layer (1 to 64).
        depth: number of hidden layers (0 to 4; 0 is a purely linear model).
        activation: one of :data:`course_utils.models.ACTIVATIONS` (``"none"``
            keeps the model linear however deep it is).
        lr: Adam's learning rate (1e-4 to 1).
        dropout: dropout probability after each hidden layer (0 to 0.8).
        steps_per_frame: full-batch optimizer steps between two redraws.
        seed: seeds the data split, the initial weights and the dropout masks;
            the widget uses its own random stream, so it neither disturbs nor
            depends on the notebook's.
        grid_resolution: grid points per axis of the boundary image.
        max_frames: a press of Train stops by itself after this many frames.
        max_fps: the async loop waits between frames so it redraws at most this often.

    Attributes:
        state: ``step``, ``frame``, ``train_loss`` (train mode, last step),
            ``test_loss``, ``train_acc``, ``test_acc`` (eval mode), ``lr``,
            ``running``, ``diverged``, and the grid predictions ``grid_labels``
            ``(R, R)`` and ``grid_probabilities``.
    """

    FIGSIZE: tuple[float, float] = (10.5, 4.3)

    def __init__(
        self,
        dataset: str = "circles",
        hidden_width: int = 16,
        depth: int = 2,
        activation: str = "relu",
        lr: float = 0.05,
        dropout: float = 0.0,
        steps_per_frame: int = 5,
        seed: int = 0,
        grid_resolution: int = 80,
        max_frames: int = 400,
        max_fps: float = 60.0,
    ):
        check_choice("dataset", dataset, list(DATASETS))
        hidden_width = check_int("hidden_width", hidden_width, 1, MAX_WIDTH)
        depth = check_int("depth", depth, 0, MAX_DEPTH)
        check_choice("activation", activation, sorted(ACTIVATIONS))
        lr = check_number("lr", lr, 1e-4, 1.0)
        dropout = check_number("dropout", dropout, 0.0, MAX_DROPOUT)
        self.steps_per_frame = check_int("steps_per_frame", steps_per_frame, 1, 200)
        self.seed = check_int("seed", seed, 0, 2**31 - 1)
        self.grid_resolution = check_int("grid_resolution", grid_resolution, 10, 300)
        self.max_frames = check_int("max_frames", max_frames, 1, 1_000_000)
        self.max_fps = check_number("max_fps", max_fps, 0.1, 1000.0)
        super().__init__(figsize=self.FIGSIZE)

        style = {"description_width": "initial"}
        self.dataset = widgets.Dropdown(options=list(DATASETS), value=dataset, description="data set", style=style)
        self.activation = widgets.Dropdown(
            options=sorted(ACTIVATIONS), value=activation, description="activation", style=style
        )
        self.width = widgets.IntSlider(value=hidden_width, min=1, max=MAX_WIDTH, description="width", style=style)
        self.depth = widgets.IntSlider(value=depth, min=0, max=MAX_DEPTH, description="hidden layers", style=style)
        self.lr = widgets.FloatLogSlider(
            value=lr, base=10, min=-4, max=0, step=0.1, description="learning rate", style=style,
            readout_format=".4f",
        )
        self.dropout = widgets.FloatSlider(
            value=dropout, min=0.0, max=MAX_DROPOUT, step=0.05, description="dropout p", style=style
        )
        self.train_button = widgets.Button(description="Train", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.reset_button = widgets.Button(description="Reset", icon="refresh")
        self.controls = [
            self.dataset, self.activation, self.width, self.depth, self.lr, self.dropout,
            self.train_button, self.stop_button, self.reset_button,
        ]

        for control in (self.dataset, self.activation, self.width, self.depth, self.dropout):
            control.observe(self._on_model_change, names="value")
        self.lr.observe(self._on_lr_change, names="value")
        self.train_button.on_click(self._on_train)
        self.stop_button.on_click(self._on_stop)
        self.reset_button.on_click(self._on_reset)

        self._task: asyncio.Task | None = None
        self._stop_requested = False
        self._running = False
        self._build_figure()
        self.reset()

    # ------------------------------------------------------------------
    # Layout and figure
    # ------------------------------------------------------------------

    def layout(self) -> widgets.Widget:
        model_row = widgets.HBox([self.dataset, self.activation, self.width, self.depth])
        train_row = widgets.HBox(
            [self.lr, self.dropout, self.train_button, self.stop_button, self.reset_button]
        )
        return widgets.VBox([model_row, train_row, self.host.widget, self.summary])

    def _build_figure(self) -> None:
        fig = self.figure
        fig.set_layout_engine("none")  # fixed positions: no layout work on every frame
        self.frames_drawn = 0
        self._frame = b""
        self.host.use_jpeg(JPEG_QUALITY)  # many frames a second: JPEG encodes fastest
        self.ax_boundary = fig.add_axes((0.085, 0.14, 0.37, 0.76))
        self.ax_loss = fig.add_axes((0.57, 0.14, 0.41, 0.76))
        r = self.grid_resolution
        self.image = self.ax_boundary.imshow(
            np.ones((r, r, 3)), origin="lower", aspect="auto", interpolation="bilinear", zorder=0
        )
        self.points = ClassPoints(self.ax_boundary, size=5.0)
        self.ax_boundary.set_title("Boundary (eval mode)")
        self.ax_boundary.set_xlabel("feature 1")
        self.ax_boundary.set_ylabel("feature 2")
        self.ax_boundary.set_xticks([])
        self.ax_boundary.set_yticks([])
        self.ax_boundary.grid(False)
        (self.train_line,) = self.ax_loss.plot([], [], color=TRAIN_COLOR, label="train loss (train mode)")
        (self.test_line,) = self.ax_loss.plot([], [], color=EVAL_COLOR, label="test loss (eval mode)")
        self.ax_loss.set_xlabel("optimizer step (= epoch, full batch)")
        self.ax_loss.set_ylabel("loss (log scale)")
        # A fixed log range fits every data set and model (a 4-class model starts
        # near ln 4 = 1.39, a binary one near ln 2 = 0.69) and shows late progress.
        self.ax_loss.set_yscale("log")
        self.ax_loss.set_ylim(*LOSS_RANGE)
        self.ax_loss.set_title("Loss")
        self.ax_loss.legend(loc="upper right")
        self._xmax = FIRST_XMAX
        self.ax_loss.set_xlim(0, self._xmax)
        # Drawn every frame on top of the once-rendered axes (no-ipympl path).
        self.host.animate(self.image, *self.points.artists, self.train_line, self.test_line)

    # ------------------------------------------------------------------
    # Model, data and optimizer
    # ------------------------------------------------------------------

    def _data_settings(self) -> dict[str, Any]:
        """``make_dataset``'s arguments for the chosen data set (a subclass may change them)."""
        return {"n_samples": N_SAMPLES, "seed": self.seed, **DATA_SETTINGS[self.dataset.value]}

    def _data_key(self) -> Any:
        """What the loaded data depends on: a change means reloading it."""
        return self.dataset.value

    def _load_data(self) -> None:
        self.data: Split = make_dataset(self.dataset.value, **self._data_settings())
        X = self.data.X_train
        margin = 0.3
        lows, highs = X.min(0).values - margin, X.max(0).values + margin
        self._extent = (lows[0].item(), highs[0].item(), lows[1].item(), highs[1].item())
        r = self.grid_resolution
        gx = torch.linspace(self._extent[0], self._extent[1], r)
        gy = torch.linspace(self._extent[2], self._extent[3], r)
        yy, xx = torch.meshgrid(gy, gx, indexing="ij")  # row = y, column = x, like imshow
        self._grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)
        self._colors = class_colors(self.data.n_classes)
        binary = self.data.n_classes == 2
        self.loss_fn: nn.Module = nn.BCEWithLogitsLoss() if binary else nn.CrossEntropyLoss()
        self._loaded = self._data_key()

    def _build_model(self) -> None:
        out = 1 if self.data.n_classes == 2 else self.data.n_classes
        dropout = self.dropout.value if self.depth.value > 0 else 0.0
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.model = make_mlp(
                2, out, hidden=(self.width.value,) * self.depth.value,
                activation=self.activation.value, dropout=dropout,
            )
            self._rng_state = torch.get_rng_state()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr.value)

    def reset(self) -> None:
        """Fresh model (same seed) for the current settings; reload the data if the set changed."""
        if getattr(self, "_loaded", None) != self._data_key():
            self._load_data()
            self._draw_data()
        self._build_model()
        self.step_count = 0
        self.frame_count = 0
        self.diverged = False
        self.train_history: list[float] = []
        self.test_history: list[tuple[int, float]] = []
        self._measure()
        self._xmax = FIRST_XMAX
        self._set_loss_limits()
        self._render(status="new model: press Train")

    def _draw_data(self) -> None:
        X, y = self.data.X_train, self.data.y_train.reshape(-1).long()
        self.points.set_data(X.numpy(), y.numpy(), self._colors)
        self.image.set_extent(self._extent)
        # The boundary axes have no ticks, so new limits leave the rendered
        # background unchanged: switching data sets needs no full redraw.
        self.ax_boundary.set_xlim(self._extent[:2])
        self.ax_boundary.set_ylim(self._extent[2:])

    # ------------------------------------------------------------------
    # One frame
    # ------------------------------------------------------------------

    def _next_batch(self) -> torch.Tensor | slice:
        """The training samples of the next optimizer step: here all of them (full batch)."""
        return slice(None)

    def _grid_prediction(self, grid_logits: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, probabilities)`` on the ``R x R`` grid from the grid's logits."""
        if self.data.n_classes == 2:
            probs = torch.sigmoid(grid_logits[:, 0])
            labels = (probs >= 0.5).long()
        else:
            probs = torch.softmax(grid_logits, dim=1)
            labels = grid_logits.argmax(dim=1)
        r = self.grid_resolution
        return labels.reshape(r, r).numpy(), probs.reshape(r, r, *probs.shape[1:]).numpy()

    def _train_steps(self, n: int) -> None:
        X, y = self.data.X_train, self.data.y_train
        model = self.model
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self._rng_state)
            model.train()
            for _ in range(n):
                index = self._next_batch()
                loss = self.loss_fn(model(X[index]), y[index])
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                self.step_count += 1
                value = loss.item()
                self.train_history.append(value)
                if not np.isfinite(value):
                    self.diverged = True
                    break
            self._rng_state = torch.get_rng_state()

    def _measure(self) -> None:
        """Eval-mode numbers and grid predictions for the current weights."""
        model = self.model
        try:
            grid_logits = predict_grid(model, self._grid)
        except ValueError:  # NaN/inf logits: the training diverged
            self.diverged = True
            return
        self.grid_labels, self.grid_probabilities = self._grid_prediction(grid_logits)
        train_mode = model.training
        model.eval()
        with torch.inference_mode():
            train_logits = model(self.data.X_train)
            test_logits = model(self.data.X_test)
            self.test_loss = self.loss_fn(test_logits, self.data.y_test).item()
        model.train(train_mode)
        self.train_acc = accuracy(train_logits, self.data.y_train)
        self.test_acc = accuracy(test_logits, self.data.y_test)
        self.test_history.append((self.step_count, self.test_loss))

    def step(self, n_frames: int = 1, redraw: bool = True) -> dict[str, Any]:
        """Run ``n_frames`` frames synchronously and return :attr:`state`.

        A frame is ``steps_per_frame`` optimizer steps in train mode, then the
        eval-mode measurements (grid, test loss, accuracies). The figure is
        redrawn once at the end (``redraw=False`` skips it, e.g. to fast-forward).
        The model is tiny, so the frames run on one CPU thread (faster than
        several); PyTorch's thread setting is restored afterwards.
        """
        n_frames = check_int("n_frames", n_frames, 1, 100_000)
        with _one_thread():
            for _ in range(n_frames):
                if self.diverged:
                    break
                self._train_steps(self.steps_per_frame)
                self.frame_count += 1
                if not self.diverged:
                    self._measure()
        self._render(redraw=redraw)
        return self.state

    # ------------------------------------------------------------------
    # Showing the state
    # ------------------------------------------------------------------

    def _render(self, status: str | None = None, redraw: bool = True) -> None:
        if not self.diverged:
            binary = self.data.n_classes == 2
            rgb = confidence_rgb(self.grid_probabilities, self._colors, binary=binary)
            self.image.set_data(_paler(rgb))  # paler, so the points stand out
        steps = np.arange(1, len(self.train_history) + 1)
        train = np.asarray(self.train_history, dtype=float)
        self.train_line.set_data(steps, train)
        test_steps, test = (np.asarray(v, dtype=float) for v in zip(*self.test_history, strict=True))
        self.test_line.set_data(test_steps, test)
        # The step axis grows in jumps (it doubles), so most frames reuse the background.
        if self.step_count > self._xmax:
            while self.step_count > self._xmax:
                self._xmax *= 2
            self._set_loss_limits()
        settings = (
            f"{self.dataset.value}, {self.depth.value} hidden layer(s) of {self.width.value}, "
            f"{self.activation.value}, dropout {self.dropout.value:.2f}"
        )
        if status is None:
            status = "training…" if self._running else "press Train to continue"
        if self.diverged:
            status = "the loss became NaN/inf: training diverged. Lower the learning rate and press Reset."
        self.summary.value = (
            f"<b>step {self.step_count}</b> (frame {self.frame_count}) · "
            f"train loss {_fmt(self._last_train_loss())} · test loss {self.test_loss:.4f} · "
            f"train acc {self.train_acc:.1%} · test acc {self.test_acc:.1%}<br>"
            f"{settings}, lr {self.lr.value:.4f} · <i>{status}</i>{self._summary_extra()}"
        )
        self.state = {
            "dataset": self.dataset.value,
            "step": self.step_count,
            "frame": self.frame_count,
            "train_loss": self._last_train_loss(),
            "test_loss": self.test_loss,
            "train_acc": self.train_acc,
            "test_acc": self.test_acc,
            "lr": self.optimizer.param_groups[0]["lr"],
            "running": self._running,
            "diverged": self.diverged,
            "grid_labels": self.grid_labels.copy(),
            "grid_probabilities": self.grid_probabilities.copy(),
        }
        if redraw:
            self.refresh()

    def _summary_extra(self) -> str:
        """More summary text (HTML) for a subclass; the summary is set once per render,
        so a browser never shows a half-updated one."""
        return ""

    def _set_loss_limits(self) -> None:
        """Apply the step axis's range; the background is re-rendered only if it changed."""
        if self.ax_loss.get_xlim() != (0, self._xmax):
            self.ax_loss.set_xlim(0, self._xmax)
            self.host.invalidate(self.ax_loss)

    def refresh(self) -> None:
        """Show the current state: ``draw_idle`` with ipympl, else blit and send a JPEG."""
        self.frames_drawn += 1
        self.host.refresh()
        if not self.host.interactive:
            self._frame = self.host.widget.value

    def snapshot(self):
        """The current frame as an image for a static notebook (``IPython.display.Image``)."""
        from IPython.display import Image as IPythonImage

        if self.host.interactive:
            buffer = io.BytesIO()
            self.figure.savefig(buffer, format="png")
            return IPythonImage(data=buffer.getvalue())
        if not self._frame:
            self.refresh()
        return IPythonImage(data=self._frame, format="jpeg")

    def _ipython_display_(self) -> None:
        self.refresh()
        text = re.sub(r"\s+", " ", self.summary_text())
        display_widget(self.ui, f"{type(self).__name__} widget: {text}")

    def _last_train_loss(self) -> float | None:
        """The train-mode loss of the last step (``None`` before the first step)."""
        return self.train_history[-1] if self.train_history else None

    # ------------------------------------------------------------------
    # Callbacks and the async loop
    # ------------------------------------------------------------------

    def _on_model_change(self, _change: Any = None) -> None:
        self.reset()

    def _on_lr_change(self, change: Any) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = float(change["new"])
        self._render(redraw=False)

    def _on_reset(self, _button: Any = None) -> None:
        self.reset()

    def _on_stop(self, _button: Any = None) -> None:
        self._stop_requested = True

    def _on_train(self, _button: Any = None) -> None:
        if self._running or (self._task is not None and not self._task.done()):
            return  # already training (or about to start)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (plain Python): train one frame right here
            self.step()
            return
        self._task = loop.create_task(self.run(self.max_frames))

    async def run(self, max_frames: int | None = None) -> None:
        """Train frame by frame until Stop is pressed, ``max_frames`` is reached or it diverges.

        Between frames it awaits ``asyncio.sleep``, which hands control back to
        the kernel so it can process the Stop button (or run a cell).
        """
        self._stop_requested = False
        self._running = True
        self.train_button.disabled, self.stop_button.disabled = True, False
        frames, status = 0, "stopped"
        try:
            while not self._stop_requested:
                if max_frames is not None and frames >= max_frames:
                    status = f"paused after {frames} frames: press Train to continue"
                    break
                if self.diverged:
                    break
                start = time.perf_counter()
                self.step()
                frames += 1
                await asyncio.sleep(max(0.0, 1.0 / self.max_fps - (time.perf_counter() - start)))
        finally:
            self._running = False
            self.train_button.disabled, self.stop_button.disabled = False, True
            self._render(status=status, redraw=False)

    @property
    def running(self) -> bool:
        """True while the async training loop is running."""
        return self._running


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run tiny models on one thread (faster than several, and deterministic), then restore."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _paler(rgb: np.ndarray) -> np.ndarray:
    """Blend an RGB image in [0, 1] with white, as 8-bit values (the cheapest kind to draw)."""
    return np.round(255.0 * (1.0 - IMAGE_OPACITY * (1.0 - rgb))).astype(np.uint8)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


