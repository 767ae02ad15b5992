"""The course's matplotlib style: large, labelled, readable on a projector."""

from __future__ import annotations

import matplotlib as mpl

__all__ = ["COURSE_STYLE", "use_style", "TRAIN_COLOR", "EVAL_COLOR"]

#: Colours used everywhere for the two modes (colour-blind safe pair).
TRAIN_COLOR = "#d55e00"
EVAL_COLOR = "#0072b2"

COURSE_STYLE = {
    "figure.figsize": (9.0, 4.5),
    "figure.dpi": 90,
    "savefig.dpi": 90,
    "font.size": 13,
    "axes.titlesize": 15,
    "axes.labelsize": 14,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 2.2,
    "image.cmap": "viridis",
    "figure.constrained_layout.use": True,
}


def use_style() -> None:
    """Apply :data:`COURSE_STYLE` to matplotlib's global settings."""
    mpl.rcParams.update(COURSE_STYLE)
