"""Move a decision threshold and watch the confusion matrix, precision, recall and F1.

A binary classifier gives one probability per sample; the label is
``probability >= threshold`` (the rule of :func:`course_utils.conversions.logits_to_labels`
and of scikit-learn's ``precision_recall_curve``). :class:`ThresholdExplorer`
shows what a different threshold changes:

* left: the probabilities of each true class, with the threshold as a line;
* middle: the confusion matrix (rows: actual class, columns: predicted class);
* right: the precision-recall curve (drawn once) and a marker at the current
  threshold's (recall, precision).

Example::

    ThresholdExplorer(torch.sigmoid(test_logits), y_test)     # probabilities
    ThresholdExplorer.from_logits(test_logits, y_test)          # or raw logits
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
)

from ..checks import check_logits, check_real_device, check_threshold
from ..plotting import CLASS_COLORS as COURSE_CLASS_COLORS
from ._base import CourseWidget

__all__ = ["ThresholdExplorer", "as_probabilities", "as_binary_targets"]

#: Colours of the two true classes in the histogram: the course's class colours
#: (class 0, class 1), the same as in every plot of the course.
CLASS_COLORS = tuple(COURSE_CLASS_COLORS[:2])
MARKER_COLOR = "#d62728"


def _to_numpy(values: object, what: str) -> np.ndarray:
    """A NumPy copy of a tensor, array, list or tuple; a ``TypeError`` for anything else."""
    if isinstance(values, torch.Tensor):
        return check_real_device(values, what).detach().cpu().numpy()
    if isinstance(values, np.ndarray):
        return values
    if isinstance(values, list | tuple):
        try:
            return np.asarray(values)
        except ValueError as exc:
            raise ValueError(f"{what} must be a flat list of numbers: {exc}") from exc
    raise TypeError(
        f"{what} must be a torch.Tensor or a numpy array, got {type(values).__name__}"
    )


def _flatten_column(array: np.ndarray, what: str) -> np.ndarray:
    """Accept shape (N,) or (N, 1) and return (N,); explain any other shape."""
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        extra = ""
        if array.ndim == 2:
            extra = (
                f" A shape (N, {array.shape[1]}) looks like multi-class output: "
                "pick one class against the rest, e.g. probs[:, k] and (targets == k)."
            )
        raise ValueError(f"{what} must have shape (N,) or (N, 1), got {array.shape}.{extra}")
    if array.shape[0] == 0:
        raise ValueError(f"{what} is empty: pass at least one sample")
    return array


def as_probabilities(probabilities: object) -> np.ndarray:
    """Validate binary-class probabilities and return them as a float64 array of shape (N,).

    Raises:
        TypeError: not a tensor/array/list, or not floating point (labels instead of probabilities?).
        ValueError: wrong shape, empty, NaN/inf, or values outside [0, 1] (logits instead of
            probabilities?).
    """
    array = _to_numpy(probabilities, "probabilities")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        raise TypeError(
            f"probabilities must be floating point numbers, got dtype {array.dtype}"
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(
            f"probabilities must be floating point, got integer dtype {array.dtype}: "
            "did you pass predicted labels? Pass torch.sigmoid(logits) instead."
        )
    array = _flatten_column(array, "probabilities").astype(np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"probabilities contain {int(bad.sum())} NaN or infinite value(s) "
            f"(first at index {int(np.flatnonzero(bad)[0])}); check the model's output"
        )
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(
            f"probabilities must lie in [0, 1], got values from {low:.4g} to {high:.4g}. "
            "These look like logits: pass torch.sigmoid(logits), or use "
            "ThresholdExplorer.from_logits(logits, targets)."
        )
    return array


def as_binary_targets(targets: object, n: int) -> np.ndarray:
    """Validate ``n`` binary 0/1 targets (bool, int or float) and return an int64 array (N,)."""
    array = _to_numpy(targets, "targets")
    if not (array.dtype == bool or np.issubdtype(array.dtype, np.number)):
        raise TypeError(f"targets must be numbers 0 and 1, got dtype {array.dtype}")
    array = _flatten_column(array, "targets")
    if array.shape[0] != n:
        raise ValueError(
            f"probabilities and targets must have the same number of samples, "
            f"got {n} probabilities and {array.shape[0]} targets"
        )
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise ValueError("targets contain NaN or infinite values; they must be 0 or 1")
    values = np.unique(array)
    if not np.isin(values, (0, 1)).all():
        shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if len(values) > 6 else "")
        raise ValueError(
            f"targets must be binary (0 or 1), found the values {shown}. For a multi-class "
            "problem, pick one class k against the rest: (targets == k)."
        )
    array = array.astype(np.int64)
    if len(values) < 2:
        raise ValueError(
            f"targets contain only class {int(values[0])}: precision and recall need "
            "samples of both classes (0 and 1)"
        )
    return array


class ThresholdExplorer(CourseWidget):
    """A threshold slider over a binary classifier's probabilities, with live metrics.

    Args:
        probabilities: P(class 1) per sample, shape (N,) or (N, 1), in [0, 1]
            (a torch tensor, a numpy array or a list).
        targets: the true labels, 0 or 1 (bool, int or float), shape (N,) or (N, 1).
        threshold: the starting threshold, in [0, 1]. A sample is predicted 1
            when its probability is ``>= threshold``.

    After each change of the slider (or :meth:`set_threshold`), :attr:`state`
    holds ``threshold``, ``predicted_positive``, ``predicted_negative``,
    ``tp``, ``fp``, ``fn``, ``tn``, ``precision``, ``recall``, ``f1`` and
    ``accuracy`` (precision and F1 are 0 when nothing is predicted 1), and
    :attr:`summary` shows them as text.
    """

    def __init__(self, probabilities: object, targets: object, threshold: float = 0.5):
        probs = as_probabilities(probabilities)
        y = as_binary_targets(targets, len(probs))
        threshold = check_threshold(threshold)
        super().__init__(figsize=(14.0, 4.6))
        self.probabilities = probs
        self.targets = y
        self._build_figure()
        self.slider = widgets.FloatSlider(
            value=threshold,
            min=0.0,
            max=1.0,
            step=0.01,
            description="threshold",
            readout_format=".2f",
            continuous_update=True,
            layout=widgets.Layout(width="420px"),
        )
        self.slider.observe(self.update, names="value")
        self.count_label = widgets.Label(value="")
        self.controls = [self.slider, self.count_label]
        self._show(self.threshold)  # displaying the widget draws the figure

    @classmethod
    def from_logits(
        cls, logits: object, targets: object, threshold: float = 0.5
    ) -> ThresholdExplorer:
        """Build the explorer from a binary model's raw logits (shape (N,) or (N, 1))."""
        if isinstance(logits, np.ndarray):
            logits = torch.from_numpy(logits)
        logits = check_logits(logits)
        if logits.ndim == 2 and logits.shape[1] != 1:
            raise ValueError(
                f"from_logits needs one logit per sample (a binary model), got shape "
                f"{tuple(logits.shape)}. For class k against the rest, pass "
                "torch.softmax(logits, dim=1)[:, k] and (targets == k) to ThresholdExplorer."
            )
        return cls(torch.sigmoid(logits.detach()), targets, threshold)

    # ------------------------------------------------------------------ figure

    def _build_figure(self) -> None:
        probs, y = self.probabilities, self.targets
        ax_hist, ax_cm, ax_pr = self.figure.subplots(1, 3, width_ratios=(1.25, 0.9, 1.0))
        self.axes = (ax_hist, ax_cm, ax_pr)

        bins = np.linspace(0.0, 1.0, 21)
        for label, color in zip((0, 1), CLASS_COLORS, strict=True):
            ax_hist.hist(probs[y == label], bins=bins, color=color, alpha=0.6, label=f"class {label}")
        self.threshold_line = ax_hist.axvline(0.5, color="black", linestyle="--", linewidth=2.2)
        ax_hist.set_xlim(0.0, 1.0)
        ax_hist.set_xlabel("probability of class 1")
        ax_hist.set_ylabel("samples")
        ax_hist.legend(loc="upper center")
        self.hist_title = ax_hist.set_title("")

        self.n_largest_class = int(np.bincount(y, minlength=2).max())
        self.cm_image = ax_cm.imshow(
            np.zeros((2, 2)), cmap="Blues", vmin=0, vmax=self.n_largest_class
        )
        names = (("TN", "FP"), ("FN", "TP"))
        self.cm_names = names
        self.cm_texts = [
            [ax_cm.text(j, i, "", ha="center", va="center", fontsize=15) for j in range(2)]
            for i in range(2)
        ]
        ax_cm.set_xticks([0, 1], ["0", "1"])
        ax_cm.set_yticks([0, 1], ["0", "1"])
        ax_cm.set_xlabel("predicted class")
        ax_cm.set_ylabel("actual class")
        ax_cm.grid(False)
        ax_cm.set_title("confusion matrix")

        precision, recall, _ = precision_recall_curve(y, probs)
        ax_pr.plot(recall, precision, drawstyle="steps-post", color="black", label="all thresholds")
        ax_pr.axhline(y.mean(), color="gray", linestyle=":", label="always predict 1")
        (self.pr_marker,) = ax_pr.plot(
            [0.0], [0.0], "o", color=MARKER_COLOR, markersize=13, label="this threshold"
        )
        ax_pr.set_xlim(-0.02, 1.02)
        ax_pr.set_ylim(-0.02, 1.05)
        ax_pr.set_xlabel("recall")
        ax_pr.set_ylabel("precision")
        ax_pr.set_title("precision-recall curve")
        ax_pr.legend(loc="lower left")
        # Only these change with the threshold: the rest is rendered once and reused.
        self.host.animate(
            self.threshold_line,
            self.hist_title,
            self.cm_image,
            *(text for row in self.cm_texts for text in row),
            self.pr_marker,
        )

    # ------------------------------------------------------------------ logic

    @property
    def threshold(self) -> float:
        """The current threshold (the slider's value)."""
        return float(self.slider.value)

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.set_threshold(value)

    def set_threshold(self, value: float) -> None:
        """Move the slider to ``value`` (a number in [0, 1]); the display updates."""
        value = check_threshold(value)
        if value == self.slider.value:
            self.update()
        else:
            self.slider.value = value  # triggers update()

    def metrics(self, threshold: float) -> dict[str, Any]:
        """The numbers at ``threshold`` (scikit-learn, ``zero_division=0``), as in :attr:`state`.

        Nothing on screen changes: use it to scan many thresholds quickly, then
        :meth:`set_threshold` to show the one you picked.
        """
        return self._metrics(check_threshold(threshold))

    def _metrics(self, threshold: float) -> dict[str, Any]:
        """:meth:`metrics` at a checked threshold (the slider's values are in [0, 1])."""
        predicted = (self.probabilities >= threshold).astype(np.int64)
        (tn, fp), (fn, tp) = confusion_matrix(self.targets, predicted, labels=[0, 1])
        precision, recall, f1, _ = precision_recall_fscore_support(
            self.targets, predicted, average="binary", pos_label=1, zero_division=0
        )
        n_pos = int(predicted.sum())
        return {
            "threshold": threshold,
            "n": len(predicted),
            "predicted_positive": n_pos,
            "predicted_negative": len(predicted) - n_pos,
            "tp": int(tp),
            "fp": int(fp),
            "fn": int(fn),
            "tn": int(tn),
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "accuracy": float(accuracy_score(self.targets, predicted)),
        }

    def update(self, *_: Any) -> None:
        """The slider's callback: recompute for its threshold, update the artists, redraw."""
        self._show(self.threshold)
        self.host.refresh()

    def _show(self, threshold: float) -> None:
        """Set :attr:`state`, :attr:`summary` and every artist for ``threshold``."""
        s = self._metrics(threshold)
        t = s["threshold"]
        self.threshold_line.set_xdata([t, t])
        self.hist_title.set_text(
            f"predicted 1: {s['predicted_positive']}, predicted 0: {s['predicted_negative']}"
        )
        counts = np.array([[s["tn"], s["fp"]], [s["fn"], s["tp"]]])
        self.cm_image.set_array(counts)
        for i in range(2):
            for j in range(2):
                text = self.cm_texts[i][j]
                text.set_text(f"{self.cm_names[i][j]}\n{counts[i, j]}")
                text.set_color("white" if counts[i, j] > 0.55 * self.n_largest_class else "black")
        self.pr_marker.set_data([s["recall"]], [s["precision"]])
        self.state = s
        self.count_label.value = (
            f"predicted 1: {s['predicted_positive']} of {s['n']} samples"
        )
        note = ""
        if s["predicted_positive"] == 0:
            note = " (nothing is predicted 1, so precision is undefined and shown as 0)"
        self.summary.value = (
            f"<b>threshold {t:.2f}</b>: predicted 1 for {s['predicted_positive']} of {s['n']} "
            f"samples &middot; TP {s['tp']}, FP {s['fp']}, FN {s['fn']}, TN {s['tn']} &middot; "
            f"precision {s['precision']:.3f}, recall {s['recall']:.3f}, F1 {s['f1']:.3f}, "
            f"accuracy {s['accuracy']:.3f}{note}"
        )
