"""FigureHost without ipympl: a slider jump only redraws the animated artists, the picture
always equals a full redraw, re-rendering one axes matches too, and the layout is computed once."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from PIL import Image

from course_utils.widgets import BatchNormPanel, LiveBoundaryTrainer, ModeExplorer


def pixels(widget) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(widget.host.widget.value)).convert("RGB")).astype(int)


def count_axes_redraws(host) -> list[int]:
    calls = [0]
    original = host._redraw_axes

    def counting(axes):
        calls[0] += 1
        original(axes)

    host._redraw_axes = counting
    return calls


JUMPS = [
    (BatchNormPanel, "n_batches_slider", [1, 500, 3]),
    (BatchNormPanel, "batch_size_slider", [2, 64, 5]),
    (BatchNormPanel, "momentum_slider", [1.0, 0.01]),
    (ModeExplorer, "p_slider", [0.9, 0.0, 0.55]),
]


@pytest.mark.parametrize(("cls", "slider", "values"), JUMPS)
def test_a_jump_across_the_slider_redraws_no_axes_and_matches_a_full_redraw(cls, slider, values):
    widget = cls()
    widget.host.refresh()
    redraws = count_axes_redraws(widget.host)
    differences = []
    for value in values:
        getattr(widget, slider).value = value  # only the animated artists are redrawn
        partial = pixels(widget)
        widget.host.invalidate()  # now everything, from scratch
        widget.host.refresh()
        differences.append(np.abs(partial - pixels(widget)).max())
    assert redraws == [0], "a slider jump re-rendered an axes' static layer"
    assert max(differences) <= 8, f"incremental and full redraws differ by up to {max(differences)} levels"


def test_the_mode_explorer_tick_numbers_follow_the_dropout_scale():
    explorer = ModeExplorer(p=0.0, seed=0)
    low = [t.get_text() for t in explorer._out_ticks]
    explorer.p_slider.value = 0.9  # outputs scaled by 10: the axis must reach ten times higher
    high = [t.get_text() for t in explorer._out_ticks]
    assert float(high[-1]) >= 8 * float(low[-1])
    ax_out = explorer._axes[1]
    assert [float(t) for t in high] == pytest.approx(list(ax_out.get_yticks()))
    assert float(high[-1]) == pytest.approx(ax_out.get_ylim()[1])
    assert ax_out.get_ylim()[1] >= explorer.state["output"][explorer.sample].max()


def test_the_batchnorm_panel_counts_points_beyond_its_fixed_view():
    panel = BatchNormPanel(batch_size=2, momentum=1.0, n_batches=30)  # running var from one batch of 2
    points = np.column_stack([panel.state["eval_out"], panel.state["train_out"]])
    ax = panel._axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    outside = ((points[:, 0] < x0) | (points[:, 0] > x1) | (points[:, 1] < y0) | (points[:, 1] > y1)).sum()
    assert outside > 0 and panel.state["n_beyond_axes"] == outside
    assert f"{outside} beyond the axes" in ax.get_title()
    shown = panel._points.get_offsets()
    assert (shown[:, 0] >= x0).all() and (shown[:, 0] <= x1).all()  # drawn at the edge, not lost
    assert len(panel._beyond.get_offsets()) == outside
    panel.momentum_slider.value = 0.1
    panel.n_batches_slider.value = 200
    assert panel.state["n_beyond_axes"] == 0 and "beyond" not in ax.get_title()


def test_re_rendering_one_axes_matches_a_full_redraw():
    trainer = LiveBoundaryTrainer(seed=0)
    trainer.host.refresh()
    redraws = count_axes_redraws(trainer.host)
    trainer.ax_loss.set_xlim(0, 1234)  # a new range: only this axes' static layer is stale
    trainer.host.invalidate(trainer.ax_loss)
    trainer.host.refresh()
    partial = pixels(trainer)
    trainer.host.invalidate()
    trainer.host.refresh()
    assert redraws == [1]
    assert np.abs(partial - pixels(trainer)).max() <= 8


def test_the_layout_is_computed_on_the_first_draw_only():
    explorer = ModeExplorer(p=0.5, seed=0)
    explorer.host.refresh()
    assert explorer.figure.get_layout_engine() is None
    positions = [ax.get_position().bounds for ax in explorer.figure.axes]
    slider = next(c for c in explorer.controls if hasattr(c, "max") and hasattr(c, "value"))
    slider.value = slider.max  # a jump: new numbers on the axis, same layout
    assert [ax.get_position().bounds for ax in explorer.figure.axes] == positions
