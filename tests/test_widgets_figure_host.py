"""FigureHost without ipympl: re-rendering only the axes whose range changed gives the same
picture as a full redraw, and the layout is computed once."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from PIL import Image

from course_utils.widgets import BatchNormPanel, ModeExplorer


def pixels(widget) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(widget.host.widget.value)).convert("RGB")).astype(int)


@pytest.mark.parametrize(
    ("slider", "values"),
    [("n_batches_slider", [7, 500, 3]), ("batch_size_slider", [2, 64, 5]), ("momentum_slider", [1.0, 0.01])],
)
def test_an_axis_rescale_redraws_one_axes_and_matches_a_full_redraw(slider, values):
    panel = BatchNormPanel()
    panel.host.refresh()
    full_draws = []
    for value in values:
        getattr(panel, slider).value = value  # may rescale an axis: only that axes is redrawn
        partial = pixels(panel)
        panel.host.invalidate()  # now everything, from scratch
        panel.host.refresh()
        full_draws.append(np.abs(partial - pixels(panel)).max())
    assert max(full_draws) <= 8, f"partial and full redraws differ by up to {max(full_draws)} levels"


def test_the_layout_is_computed_on_the_first_draw_only():
    explorer = ModeExplorer(p=0.5, seed=0)
    explorer.host.refresh()
    assert explorer.figure.get_layout_engine() is None
    positions = [ax.get_position().bounds for ax in explorer.figure.axes]
    slider = next(c for c in explorer.controls if hasattr(c, "max") and hasattr(c, "value"))
    slider.value = slider.max  # a jump: new axis range, partial redraw, same layout
    assert [ax.get_position().bounds for ax in explorer.figure.axes] == positions
