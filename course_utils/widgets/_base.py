"""Plumbing shared by the course widgets.

Every widget builds its matplotlib figure **once** and afterwards only updates
artists (``set_data``, ``set_ydata``, ``set_array``...). How the figure reaches
the screen depends on the matplotlib backend:

* with ``%matplotlib widget`` (ipympl) the figure's canvas *is* a widget and
  :meth:`FigureHost.refresh` just calls ``canvas.draw_idle()``;
* otherwise (plain inline backend, Colab without ipympl, tests) the figure is
  rendered to PNG bytes by matplotlib's Agg canvas and shown in an
  ``ipywidgets.Image``. Updating the image is a plain widget-state change, so
  it works in every front end (and in static HTML exports, which embed widget
  state) and never leaks stray outputs into the notebook cell.

When a widget is displayed, its plain-text representation is its summary text,
so a notebook's stored text output (which nbval compares) is short, readable
and deterministic instead of a long ``VBox(children=...)`` repr.

Only APIs present in both ipywidgets 7 and 8 are used here and in the widgets.
"""

from __future__ import annotations

import html
import io
import re
from typing import Any

import ipywidgets as widgets
import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..checks import check_int

__all__ = [
    "interactive_backend",
    "FigureHost",
    "CourseWidget",
    "display_widget",
]


def interactive_backend() -> bool:
    """True when the ipympl (``%matplotlib widget``) backend is active."""
    backend = matplotlib.get_backend().lower()
    return "ipympl" in backend or backend.endswith("widget")


class FigureHost:
    """Owns one figure and shows it through ipympl if active, else as a PNG ``Image`` widget."""

    def __init__(self, figsize: tuple[float, float] = (9.0, 4.0), dpi: float = 80, **fig_kw: Any):
        self.interactive = interactive_backend()
        if self.interactive:
            import matplotlib.pyplot as plt

            with plt.ioff():
                self.figure = plt.figure(figsize=figsize, dpi=dpi, **fig_kw)
            self.figure.canvas.header_visible = False
            self.widget: widgets.Widget = self.figure.canvas
        else:
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            # A bare Figure on an Agg canvas is never auto-displayed by the inline backend.
            self.figure = Figure(figsize=figsize, dpi=dpi, **fig_kw)
            self._canvas = FigureCanvasAgg(self.figure)
            self.widget = widgets.Image(format="png")
        self.draws = 0
        self._animated: list[Any] = []
        self._background: Any = None
        self._dirty: set[Any] = set()
        self._boxes: dict[Any, Any] = {}
        self.image_format = "png"
        self.jpeg_quality = 90

    def use_jpeg(self, quality: int = 90) -> None:
        """Send frames as JPEG (about 4x faster to encode than PNG, half the bytes)."""
        self.image_format, self.jpeg_quality = "jpeg", check_int("quality", quality, 1, 100)
        if not self.interactive:
            self.widget.format = "jpeg"

    def animate(self, *artists: Any) -> None:
        """Declare the artists a widget changes on every update (for the no-ipympl path).

        The rest of the figure (axes, ticks, labels, legends) is then rendered
        once and reused; each refresh only redraws these artists on top, which
        is several times faster. A widget that changes anything else (axis
        limits, a legend, a colour outside these artists) calls
        :meth:`invalidate` first. With ipympl this does nothing: ipympl redraws
        the whole canvas itself.
        """
        if self.interactive:
            return
        for artist in artists:
            artist.set_animated(True)  # left out of the full draw, drawn on top
            self._animated.append(artist)
        self._background = None

    def invalidate(self, *axes: Any) -> None:
        """Re-render the static part of the figure at the next :meth:`refresh`.

        With ``axes`` (say, the one whose range just changed), only those axes are
        re-rendered into the saved background, which costs a fraction of a full
        draw; without, the whole figure is.
        """
        if axes and self._background is not None:
            self._dirty.update(axes)
        else:
            self._background = None
            self._dirty = set()

    def _redraw_axes(self, axes: set[Any]) -> None:
        """Wipe and re-render only ``axes`` (ticks, labels, static artists) on the canvas."""
        from matplotlib.patches import Rectangle
        from matplotlib.transforms import Bbox, IdentityTransform

        renderer = self._canvas.get_renderer()
        for ax in axes:
            new = ax.get_tightbbox(renderer)
            box = Bbox.union([b for b in (self._boxes.get(ax), new) if b is not None]).padded(2)
            wipe = Rectangle((box.x0, box.y0), box.width, box.height, transform=IdentityTransform(),
                             facecolor=self.figure.get_facecolor(), edgecolor="none")
            wipe.set_figure(self.figure)
            wipe.draw(renderer)
            ax.draw(renderer)  # leaves out the animated artists, drawn on top below
            self._boxes[ax] = new

    def refresh(self) -> None:
        """Show the current state of the figure (``draw_idle`` with ipympl, else a new PNG)."""
        self.draws += 1
        if self.interactive:
            self.figure.canvas.draw_idle()
            return
        from PIL import Image

        if self._background is None or not self._animated:
            # Everything but the animated artists. The layout engine runs on this
            # first full draw only: later ones keep its positions (a layout pass
            # costs more than the drawing itself).
            self._canvas.draw()
            if self.figure.get_layout_engine() is not None:
                self.figure.set_layout_engine("none")
            if self._animated:
                self._background = self._canvas.copy_from_bbox(self.figure.bbox)
                renderer = self._canvas.get_renderer()
                self._boxes = {ax: ax.get_tightbbox(renderer) for ax in self.figure.axes}
            self._dirty.clear()
        else:
            self._canvas.restore_region(self._background)
            if self._dirty:
                self._redraw_axes(self._dirty)
                self._background = self._canvas.copy_from_bbox(self.figure.bbox)
                self._dirty.clear()
        for artist in sorted(self._animated, key=lambda a: a.get_zorder()):  # stable: keeps order
            self.figure.draw_artist(artist)
        buffer = io.BytesIO()
        pixels = np.asarray(self._canvas.buffer_rgba())
        if self.image_format == "jpeg":
            # RGBA -> RGB inside PIL: about half the time of slicing the array first.
            Image.fromarray(pixels).convert("RGB").save(buffer, format="jpeg", quality=self.jpeg_quality)
        else:
            # Fast zlib level: encoding takes a fraction of the default's time for ~20% more bytes.
            Image.fromarray(pixels).save(buffer, format="png", compress_level=1)
        self.widget.value = buffer.getvalue()


def display_widget(ui: widgets.Widget, text: str) -> None:
    """Display ``ui`` with ``text`` as its plain-text form (what nbval and GitHub see).

    Works with ipywidgets 7 and 8: both render the same widget-view message.
    """
    from IPython.display import display

    bundle = {
        "text/plain": text,
        "application/vnd.jupyter.widget-view+json": {
            "version_major": 2,
            "version_minor": 0,
            "model_id": ui.model_id,
        },
    }
    display(bundle, raw=True)


class CourseWidget:
    """Base class: a figure, some controls, a summary text, and the latest numbers.

    Subclasses build their figure in ``__init__``, wire their controls with
    ``observe(..., names="value")`` / ``on_click`` and implement :meth:`update`,
    which recomputes, updates artists, sets :attr:`summary` and fills
    :attr:`state` (a dict a test can assert on). Display the widget by making it
    the last expression of a cell, or with ``display(w)``.
    """

    def __init__(self, figsize: tuple[float, float] = (9.0, 4.0)):
        self.host = FigureHost(figsize=figsize)
        self.figure = self.host.figure
        self.summary = widgets.HTML(value="")
        self.state: dict[str, Any] = {}
        self.controls: list[widgets.Widget] = []

    def layout(self) -> widgets.Widget:
        """The widget tree shown in the notebook (controls, figure, summary)."""
        return widgets.VBox([widgets.HBox(self.controls), self.host.widget, self.summary])

    @property
    def ui(self) -> widgets.Widget:
        if not hasattr(self, "_ui"):
            self._ui = self.layout()
        return self._ui

    def update(self, *_: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def summary_text(self) -> str:
        """The summary as plain text (HTML tags removed)."""
        return html.unescape(re.sub(r"<[^>]+>", " ", self.summary.value)).strip()

    def _ipython_display_(self) -> None:
        self.host.refresh()
        text = re.sub(r"\s+", " ", self.summary_text())
        display_widget(self.ui, f"{type(self).__name__} widget: {text}")
