"""ThresholdExplorer: the slider drives the metrics, the figure agrees with scikit-learn."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score

from course_utils.widgets import ThresholdExplorer


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    """200 overlapping scores: class 1 tends to get higher probabilities (none exactly 0 or 1)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0.001, 0.999)
    return p, y


def test_threshold_zero_predicts_everything_positive(data):
    p, y = data
    w = ThresholdExplorer(p, y)
    w.slider.value = 0.0
    assert w.state["recall"] == 1.0
    assert w.state["predicted_positive"] == len(p)
    assert w.state["fn"] == 0 and w.state["tn"] == 0


def test_threshold_one_predicts_nothing_positive(data):
    p, y = data
    w = ThresholdExplorer(p, y)
    w.slider.value = 1.0
    assert w.state["predicted_positive"] == 0
    assert w.state["tp"] == 0 and w.state["fp"] == 0
    assert w.state["precision"] == 0.0 and w.state["recall"] == 0.0 and w.state["f1"] == 0.0
    assert w.state["accuracy"] == pytest.approx(np.mean(y == 0))
    assert "undefined" in w.summary.value


def test_a_probability_of_exactly_one_is_positive_at_threshold_one():
    # the rule is probability >= threshold, as in logits_to_labels and sklearn
    w = ThresholdExplorer(np.array([0.2, 1.0, 0.9]), np.array([0, 1, 1]), threshold=1.0)
    assert w.state["predicted_positive"] == 1 and w.state["tp"] == 1


def test_recall_grows_as_the_threshold_drops(data):
    p, y = data
    w = ThresholdExplorer(p, y)
    recalls, positives = [], []
    for t in np.linspace(1.0, 0.0, 41):
        w.slider.value = float(t)
        recalls.append(w.state["recall"])
        positives.append(w.state["predicted_positive"])
    assert all(a <= b for a, b in zip(recalls, recalls[1:], strict=False))
    assert all(a <= b for a, b in zip(positives, positives[1:], strict=False))
    assert recalls[0] == 0.0 and recalls[-1] == 1.0
    assert len(set(recalls)) > 10  # it really moves in between


@pytest.mark.parametrize("threshold", [0.2, 0.45, 0.5, 0.73])
def test_numbers_agree_with_sklearn(data, threshold):
    p, y = data
    w = ThresholdExplorer(p, y)
    w.slider.value = threshold
    pred = (p >= threshold).astype(int)
    (tn, fp), (fn, tp) = confusion_matrix(y, pred)
    s = w.state
    assert (s["tn"], s["fp"], s["fn"], s["tp"]) == (tn, fp, fn, tp)
    assert s["precision"] == pytest.approx(precision_score(y, pred))
    assert s["recall"] == pytest.approx(recall_score(y, pred))
    assert s["f1"] == pytest.approx(f1_score(y, pred))
    # the figure shows the same numbers: the image and its text labels
    np.testing.assert_array_equal(w.cm_image.get_array(), confusion_matrix(y, pred))
    shown = [[int(t.get_text().split()[-1]) for t in row] for row in w.cm_texts]
    assert shown == confusion_matrix(y, pred).tolist()
    assert [t.get_text().split()[0] for t in w.cm_texts[1]] == ["FN", "TP"]
    # the summary text states them too
    assert f"TP {tp}, FP {fp}, FN {fn}, TN {tn}" in w.summary.value
    assert f"threshold {threshold:.2f}" in w.summary.value


def test_pr_marker_sits_at_recall_and_precision(data):
    p, y = data
    w = ThresholdExplorer(p, y)
    for t in (0.3, 0.6):
        w.slider.value = t
        x, yy = w.pr_marker.get_data()
        assert (float(x[0]), float(yy[0])) == (w.state["recall"], w.state["precision"])
        assert list(w.threshold_line.get_xdata()) == [t, t]


def test_the_figure_is_built_once(data):
    p, y = data
    w = ThresholdExplorer(p, y)
    n_artists = [len(ax.get_children()) for ax in w.figure.axes]
    axes = list(w.figure.axes)
    for t in (0.1, 0.5, 0.9):
        w.slider.value = t
    assert list(w.figure.axes) == axes
    assert [len(ax.get_children()) for ax in w.figure.axes] == n_artists
    assert w.host.draws == 3  # one redraw per move


def test_metrics_scans_without_touching_the_display(data):
    p, y = data
    w = ThresholdExplorer(p, y, threshold=0.5)
    before, draws = dict(w.state), w.host.draws
    scanned = w.metrics(0.3)
    assert w.state == before and w.host.draws == draws and w.slider.value == 0.5
    w.set_threshold(0.3)
    assert w.state == scanned


def test_numpy_and_torch_inputs_give_the_same_state(data):
    p, y = data
    from_numpy = ThresholdExplorer(p, y, threshold=0.4)
    from_torch = ThresholdExplorer(
        torch.tensor(p, dtype=torch.float64).unsqueeze(1),  # (N, 1) probabilities
        torch.tensor(y, dtype=torch.float32),  # float 0/1 targets
        threshold=0.4,
    )
    assert from_numpy.state == from_torch.state


def test_from_logits_applies_the_sigmoid(data):
    p, y = data
    logits = torch.logit(torch.tensor(p, dtype=torch.float64)).unsqueeze(1).requires_grad_()
    w = ThresholdExplorer.from_logits(logits, torch.tensor(y).unsqueeze(1), threshold=0.6)
    assert w.state == ThresholdExplorer(p, y, threshold=0.6).state
    with pytest.raises(ValueError, match="one logit per sample"):
        ThresholdExplorer.from_logits(torch.randn(10, 3), y[:10])


def test_set_threshold_validates(data):
    p, y = data
    w = ThresholdExplorer(p, y)
    w.set_threshold(0.8)
    assert w.slider.value == 0.8 and w.state["threshold"] == 0.8
    w.threshold = 0.25
    assert w.state["threshold"] == 0.25
    for bad in (1.5, -0.1):
        with pytest.raises(ValueError, match="between 0 and 1"):
            w.set_threshold(bad)
    with pytest.raises(TypeError, match="number"):
        w.set_threshold("0.5")
    assert w.state["threshold"] == 0.25  # a refused value changes nothing
    with pytest.raises(ValueError, match="between 0 and 1"):
        ThresholdExplorer(p, y, threshold=2)


@pytest.mark.parametrize(
    ("probs", "targets", "error", "match"),
    [
        ([], [], ValueError, "empty"),
        (np.array([0.1, np.nan, 0.7]), [0, 1, 1], ValueError, "NaN"),
        (np.array([-2.0, 0.5, 3.0]), [0, 1, 1], ValueError, "look like logits"),
        (np.array([0.1, 0.5, 0.7]), [0, 1], ValueError, "same number of samples"),
        (np.array([0.1, 0.5, 0.7]), [0, 1, 2], ValueError, "binary"),
        (np.array([0.1, 0.5, 0.7]), [1, 1, 1], ValueError, "only class 1"),
        (np.array([0.1, 0.5, 0.7]), [0.0, np.nan, 1.0], ValueError, "NaN"),
        (np.full((3, 2), 0.5), [0, 1, 1], ValueError, "multi-class"),
        (np.full((3, 1, 1), 0.5), [0, 1, 1], ValueError, r"shape \(N,\) or \(N, 1\)"),
        (np.array([0, 1, 1]), [0, 1, 1], TypeError, "predicted labels"),
        ("0.1 0.5", [0, 1], TypeError, "torch.Tensor or a numpy array"),
        (np.array([0.1, 0.5, 0.7]), "011", TypeError, "torch.Tensor or a numpy array"),
    ],
)
def test_bad_inputs_raise_clear_errors(probs, targets, error, match):
    with pytest.raises(error, match=match):
        ThresholdExplorer(probs, targets)
