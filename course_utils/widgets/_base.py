"""Plumbing shared by the course widgets.

Every widget builds its matplotlib figure **once** and afterwards only updates
artists (``set_data``, ``set_ydata``, ``set_array``...). How the figure reaches
the screen depends on the matplotlib backend:

* with ``%matplotlib widget`` (ipympl) the figure's canvas *is* a widget and
  :meth:`FigureHost.refresh` just calls ``canvas.draw_idle()``;
* otherwise (plain inline backend, Colab without ipympl, tests) the figure is
  shown as a PNG inside an ``ipywidgets.Output``, re-rendered on refresh.

Only APIs present in both ipywidgets 7 and 8 are used here and in the widgets.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import matplotlib
from matplotlib.figure import Figure

__all__ = ["interactive_backend", "FigureHost", "CourseWidget", "check_choice", "check_range"]


def interactive_backend() -> bool:
    """True when the ipympl (``%matplotlib widget``) backend is active."""
    backend = matplotlib.get_backend().lower()
    return "ipympl" in backend or backend.endswith("widget")


class FigureHost:
    """Owns one figure and shows it through ipympl if active, else through an Output."""

    def __init__(self, figsize: tuple[float, float] = (9.0, 4.0), **subplot_kw: Any):
        self.interactive = interactive_backend()
        if self.interactive:
            import matplotlib.pyplot as plt

            with plt.ioff():
                self.figure = plt.figure(figsize=figsize, **subplot_kw)
            self.figure.canvas.header_visible = False
            self.widget: widgets.Widget = self.figure.canvas
        else:
            # A bare Figure is never auto-displayed by the inline backend.
            self.figure = Figure(figsize=figsize, **subplot_kw)
            self.widget = widgets.Output()
        self.draws = 0

    def refresh(self) -> None:
        """Show the current state of the figure (cheap with ipympl)."""
        self.draws += 1
        if self.interactive:
            self.figure.canvas.draw_idle()
            return
        from IPython.display import display

        self.figure.canvas.draw()  # render now, so errors surface in the callback
        with self.widget:
            self.widget.clear_output(wait=True)
            display(self.figure)


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

    def _ipython_display_(self) -> None:
        from IPython.display import display

        self.host.refresh()
        display(self.ui)


def check_choice(name: str, value: Any, choices: list[Any] | tuple[Any, ...]) -> Any:
    """Raise a ``ValueError`` naming the valid choices unless ``value`` is one of them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_range(name: str, value: float, low: float, high: float) -> float:
    """Raise a clear error unless ``low <= value <= high`` (and ``value`` is a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number between {low} and {high}, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value
