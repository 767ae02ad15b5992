"""plot_decision_boundary: right grids for binary and multi-class models, clear errors,
and the model comes back exactly as it was (modes, grad mode, buffers)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from course_utils.models import make_mlp
from course_utils.plotting import (
    DecisionBoundary,
    compute_decision_boundary,
    make_grid,
    plot_decision_boundary,
    predict_grid,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def points(n: int = 40, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))


def binary_model() -> nn.Module:
    torch.manual_seed(0)
    return make_mlp(hidden=(8,))


def multi_model(k: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return make_mlp(out_features=k, hidden=(8,))


def dropout_model() -> nn.Module:
    torch.manual_seed(0)
    return make_mlp(hidden=(32, 32), dropout=0.5)


def flags(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


# ---------------------------------------------------------------------------
# What is computed
# ---------------------------------------------------------------------------


def test_binary_labels_and_probabilities():
    X = points()
    y = (X[:, 0] > 0).long()
    shown = plot_decision_boundary(binary_model(), X, y, grid_resolution=30)
    assert isinstance(shown, DecisionBoundary)
    assert shown.n_classes == 2
    assert shown.labels.shape == shown.probabilities.shape == shown.xx.shape == (30, 30)
    assert set(np.unique(shown.labels)) <= {0, 1}
    assert 0.0 <= shown.probabilities.min() and shown.probabilities.max() <= 1.0
    # label = probability >= threshold, everywhere on the grid
    np.testing.assert_array_equal(shown.labels, (shown.probabilities >= 0.5).astype(int))


def test_accuracy_matches_the_model_on_the_points():
    model = binary_model().eval()
    X = points(60)
    y = (X[:, 1] > 0).float().unsqueeze(1)  # the (N, 1) float targets of make_dataset
    shown = compute_decision_boundary(model, X, y, grid_resolution=5)
    with torch.no_grad():
        expected = ((torch.sigmoid(model(X)) >= 0.5).float() == y).float().mean().item()
    assert shown.accuracy == pytest.approx(expected)


def test_multiclass_argmax_and_softmax():
    X = points()
    y = torch.arange(40) % 4
    shown = plot_decision_boundary(multi_model(), X, y, grid_resolution=25, response="probability")
    assert shown.n_classes == 4
    assert shown.labels.shape == (25, 25)
    assert shown.probabilities.shape == (25, 25, 4)
    np.testing.assert_allclose(shown.probabilities.sum(axis=2), 1.0, atol=1e-5)
    np.testing.assert_array_equal(shown.labels, shown.probabilities.argmax(axis=2))
    # the probability response is the winning class's probability, in [1/K, 1]
    np.testing.assert_allclose(shown.response, shown.probabilities.max(axis=2))
    assert shown.response.min() >= 0.25 - 1e-6 and shown.response.max() <= 1.0


# ---------------------------------------------------------------------------
# Every classifier shape: one logit, two logits (softmax over 2), K > 2 logits
# ---------------------------------------------------------------------------


def one_logit() -> nn.Linear:
    torch.manual_seed(3)
    return nn.Linear(2, 1)


def two_logits(same_as: nn.Linear | None = None) -> nn.Linear:
    """A softmax-over-two-classes model; with ``same_as``, logits (0, z) for that model's z."""
    torch.manual_seed(4)
    model = nn.Linear(2, 2)
    if same_as is not None:
        with torch.no_grad():
            model.weight.copy_(torch.cat([torch.zeros(1, 2), same_as.weight]))
            model.bias.copy_(torch.cat([torch.zeros(1), same_as.bias]))
    return model


def grid_logits(model: nn.Module, shown: DecisionBoundary) -> torch.Tensor:
    grid = torch.tensor(np.c_[shown.xx.ravel(), shown.yy.ravel()], dtype=torch.float32)
    with torch.no_grad():
        return model.eval()(grid)


def drawn_values(shown: DecisionBoundary) -> np.ndarray:
    """What a pcolormesh surface really shows, one value per grid cell."""
    return np.asarray(shown.surface.get_array()).reshape(shown.xx.shape)


def test_two_logits_are_drawn_as_p_class_1():
    """The bug this guards: a 2-logit model made contourf raise 'Input z must be 2D, not 3D'."""
    model = two_logits()
    X = points()
    y = (X[:, 0] > 0).long()
    shown = plot_decision_boundary(model, X, y, grid_resolution=30, response="probability",
                                   plot_method="pcolormesh")
    assert shown.n_classes == 2 and shown.n_logits == 2
    assert shown.probabilities.shape == shown.labels.shape == (30, 30)
    logits = grid_logits(model, shown)
    expected = torch.softmax(logits, dim=1)[:, 1].numpy().reshape(30, 30)
    np.testing.assert_allclose(shown.probabilities, expected, atol=1e-6)
    np.testing.assert_allclose(drawn_values(shown), expected, atol=1e-6)  # what is drawn
    # labels: the argmax of the two logits, exactly (what logits_to_labels gives)
    np.testing.assert_array_equal(shown.labels.ravel(), logits.argmax(dim=1).numpy())
    assert 0 < shown.labels.mean() < 1  # the boundary crosses the plot
    assert shown.colorbar is not None and shown.colorbar.ax.get_ylabel() == "P(class 1)"


@pytest.mark.parametrize("response", ["label", "probability"])
def test_two_logits_look_like_the_equivalent_one_logit_model(response):
    """Logits (0, z) and the single logit z are the same classifier: same values, same look."""
    single = one_logit()
    pair = two_logits(same_as=single)
    X = points()
    y = (X[:, 1] > 0).long()
    a = plot_decision_boundary(single, X, y, grid_resolution=40, response=response)
    b = plot_decision_boundary(pair, X, y, grid_resolution=40, response=response)
    assert (a.n_logits, b.n_logits) == (1, 2)
    np.testing.assert_allclose(b.probabilities, a.probabilities, atol=1e-6)
    np.testing.assert_array_equal(b.labels, a.labels)
    assert b.accuracy == a.accuracy
    assert type(b.surface) is type(a.surface)
    np.testing.assert_allclose(b.surface.levels, a.surface.levels)
    assert b.surface.get_cmap().name == a.surface.get_cmap().name
    assert list(b.boundary.levels) == list(a.boundary.levels) == [0.5]  # black line at P = 0.5
    assert (b.colorbar is None) == (a.colorbar is None) == (response == "label")
    assert b.ax.get_title() == a.ax.get_title()
    assert [t.get_text() for t in b.ax.get_legend().get_texts()] == ["class 0", "class 1"]


def test_two_logits_accuracy_matches_argmax_accuracy():
    from course_utils.conversions import accuracy

    model = two_logits()
    X = points(60)
    y = (X[:, 0] + X[:, 1] > 0).long()
    shown = compute_decision_boundary(model, X, y, grid_resolution=5)
    with torch.no_grad():
        assert shown.accuracy == pytest.approx(accuracy(model(X), y))


def test_two_logits_threshold_moves_the_boundary():
    model, X = two_logits(), points()
    low = compute_decision_boundary(model, X, grid_resolution=40, threshold=0.1)
    mid = compute_decision_boundary(model, X, grid_resolution=40)
    high = compute_decision_boundary(model, X, grid_resolution=40, threshold=0.9)
    assert low.labels.sum() > mid.labels.sum() > high.labels.sum()
    np.testing.assert_array_equal(high.labels, (high.probabilities > 0.9).astype(int))
    assert compute_decision_boundary(model, X, grid_resolution=10, threshold=0.0).labels.all()
    assert not compute_decision_boundary(model, X, grid_resolution=10, threshold=1.0).labels.any()


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_every_shape_draws_its_labels(k):
    torch.manual_seed(k)
    model = nn.Linear(2, k)
    shown = plot_decision_boundary(model, points(), grid_resolution=25, plot_method="pcolormesh")
    assert shown.n_logits == k and shown.n_classes == max(k, 2)
    logits = grid_logits(model, shown)
    expected = (torch.sigmoid(logits[:, 0]) >= 0.5).long() if k == 1 else logits.argmax(dim=1)
    np.testing.assert_array_equal(shown.labels.ravel(), expected.numpy())
    np.testing.assert_array_equal(drawn_values(shown), shown.labels)


def test_k_logits_probability_draws_the_confidence_image():
    from course_utils.plotting import CLASS_COLORS, confidence_rgb

    torch.manual_seed(0)
    model = nn.Linear(2, 3)
    shown = plot_decision_boundary(model, points(), grid_resolution=20, response="probability",
                                   plot_method="pcolormesh")
    assert shown.n_logits == 3 and shown.probabilities.shape == (20, 20, 3)
    expected = torch.softmax(grid_logits(model, shown), dim=1).numpy().reshape(20, 20, 3)
    np.testing.assert_allclose(shown.probabilities, expected, atol=1e-6)
    assert type(shown.surface).__name__ == "QuadMesh"
    image = np.asarray(shown.surface.get_array()).reshape(20, 20, 4)
    np.testing.assert_allclose(image[..., :3], confidence_rgb(expected, CLASS_COLORS[:3], binary=False),
                               atol=1e-5)


def test_k_logits_probability_with_contourf_draws_filled_contours_per_class():
    """plot_method is honoured for K > 2 probabilities too: one contour set per predicted class."""
    torch.manual_seed(0)
    model = nn.Linear(2, 3)
    shown = plot_decision_boundary(model, points(), grid_resolution=30, response="probability")
    present = np.unique(shown.labels)
    assert isinstance(shown.surface, list) and len(shown.surface) == len(present) >= 2
    assert all(type(cs).__name__ == "QuadContourSet" for cs in shown.surface)
    assert not any(type(a).__name__ == "AxesImage" for a in shown.ax.get_children())


# ---------------------------------------------------------------------------
# Probabilities instead of logits: refused or warned about, never drawn wrong
# ---------------------------------------------------------------------------


class _FunctionalSoftmax(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 3)

    def forward(self, x):
        return torch.softmax(self.linear(x), dim=1)


class _FunctionalSigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        with torch.no_grad():
            self.linear.weight.fill_(4.0)

    def forward(self, x):
        return torch.sigmoid(self.linear(x))


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid()), r"ends in Sigmoid.*not logits"),
        (nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=1)), r"ends in Softmax.*not logits"),
        (nn.Sequential(nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())), r"ends in Sigmoid"),
        (_FunctionalSoftmax(), r"sums to 1: these look like softmax probabilities"),
    ],
    ids=["Sigmoid", "Softmax", "nested Sigmoid", "softmax in forward"],
)
def test_probability_outputs_are_refused(model, match):
    with pytest.raises(ValueError, match=match):
        plot_decision_boundary(model, points(), grid_resolution=10)


def test_sigmoid_in_forward_gets_a_warning():
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match=r"look like probabilities.*pass logits"):
        plot_decision_boundary(_FunctionalSigmoid(), points(), grid_resolution=10)


@pytest.mark.parametrize("model", [binary_model(), multi_model(), multi_model(2)], ids=["1", "4", "2"])
def test_logit_models_get_no_warning(model, recwarn):
    plot_decision_boundary(model, points(), grid_resolution=10)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_log_softmax_output_is_drawn_like_logits():
    torch.manual_seed(0)
    linear = nn.Linear(2, 3)
    a = compute_decision_boundary(nn.Sequential(linear, nn.LogSoftmax(dim=1)), points(), grid_resolution=10)
    b = compute_decision_boundary(linear, points(), grid_resolution=10)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_response_label_vs_probability_values():
    X = points()
    as_label = compute_decision_boundary(binary_model(), X, grid_resolution=20, response="label")
    as_prob = compute_decision_boundary(binary_model(), X, grid_resolution=20, response="probability")
    assert as_label.response.dtype.kind == "i" and set(np.unique(as_label.response)) <= {0, 1}
    assert as_prob.response.dtype.kind == "f"
    assert 0.0 <= as_prob.response.min() <= as_prob.response.max() <= 1.0
    assert len(np.unique(as_prob.response)) > 2


def test_numpy_and_torch_input_give_the_same_grid():
    model = binary_model()
    X = points()
    y = (X[:, 0] > 0).long()
    from_torch = compute_decision_boundary(model, X, y, grid_resolution=15)
    from_numpy = compute_decision_boundary(model, X.numpy(), y.numpy(), grid_resolution=15)
    np.testing.assert_array_equal(from_torch.labels, from_numpy.labels)
    np.testing.assert_allclose(from_torch.probabilities, from_numpy.probabilities)
    assert from_torch.accuracy == from_numpy.accuracy


@pytest.mark.parametrize("resolution", [2, 17, 64])
def test_grid_has_resolution_squared_points(resolution):
    shown = compute_decision_boundary(binary_model(), points(), grid_resolution=resolution)
    assert shown.xx.shape == shown.yy.shape == shown.labels.shape == (resolution, resolution)
    assert shown.labels.size == resolution**2


def test_grid_covers_the_data_plus_eps():
    X = np.array([[0.0, 0.0], [2.0, 1.0]])
    xx, yy = make_grid(X, grid_resolution=11, eps=0.5)
    assert (xx.min(), xx.max(), yy.min(), yy.max()) == pytest.approx((-0.5, 2.5, -0.5, 1.5))
    assert np.all(np.diff(xx[0]) > 0) and np.all(np.diff(yy[:, 0]) > 0)


def test_threshold_moves_the_binary_boundary():
    model, X = binary_model(), points()
    low = compute_decision_boundary(model, X, grid_resolution=40, threshold=0.1)
    high = compute_decision_boundary(model, X, grid_resolution=40, threshold=0.9)
    assert low.labels.sum() > high.labels.sum()


def test_device_argument_and_float64_model():
    model = binary_model().double()
    shown = compute_decision_boundary(model, points(), grid_resolution=10, device="cpu")
    assert shown.labels.shape == (10, 10)


# ---------------------------------------------------------------------------
# Modes, grad mode and buffers come back
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["train", "eval", "mixed"])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_restores_modes(setting, mode):
    model = dropout_model()
    if setting == "eval":
        model.eval()
    elif setting == "mixed":
        model.train()
        model[2].eval()  # one Dropout in eval mode
        model[3].eval()
    before = flags(model)
    compute_decision_boundary(model, points(), grid_resolution=10, mode=mode)
    assert flags(model) == before


@pytest.mark.parametrize("grad_enabled", [True, False])
def test_restores_grad_mode(grad_enabled):
    with torch.set_grad_enabled(grad_enabled):
        plot_decision_boundary(binary_model(), points(), grid_resolution=10)
        assert torch.is_grad_enabled() is grad_enabled
        assert not torch.is_inference_mode_enabled()


class Exploding(nn.Module):
    """Raises from inside its forward pass, after the helper has switched modes."""

    def __init__(self, error: type[Exception]):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.drop = nn.Dropout(0.5)
        self.error = error
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, x):
        self.seen.append((self.training, torch.is_grad_enabled()))
        raise self.error("boom")


@pytest.mark.parametrize("error", [RuntimeError, ValueError, KeyError])
def test_restores_modes_and_grad_even_when_the_model_raises(error):
    model = Exploding(error)
    model.train()
    model.drop.eval()  # mixed
    before = flags(model)
    with pytest.raises((ValueError, KeyError)):
        plot_decision_boundary(model, points(), grid_resolution=5)
    assert model.seen == [(False, False)]  # it really ran in eval mode without grad
    assert flags(model) == before
    assert torch.is_grad_enabled()


def test_restores_modes_when_the_output_is_wrong():
    model = nn.Sequential(nn.Linear(2, 6), nn.Dropout(0.2), nn.Unflatten(1, (2, 3)))
    model.train()
    with pytest.raises(ValueError, match=r"\(N,\), \(N, 1\) or \(N, K\)"):
        plot_decision_boundary(model, points(), grid_resolution=5)
    assert all(flags(model))


def test_train_mode_does_not_change_batchnorm_statistics():
    torch.manual_seed(0)
    model = make_mlp(hidden=(8,), batchnorm=True).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    compute_decision_boundary(model, points(), grid_resolution=10, mode="train")
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


# ---------------------------------------------------------------------------
# mode="train" jitters, mode="eval" does not
# ---------------------------------------------------------------------------


def test_train_mode_differs_between_calls_eval_is_identical():
    model = dropout_model()
    X = points()
    train_a = compute_decision_boundary(model, X, grid_resolution=40, mode="train")
    train_b = compute_decision_boundary(model, X, grid_resolution=40, mode="train")
    assert not np.array_equal(train_a.probabilities, train_b.probabilities)
    eval_a = compute_decision_boundary(model, X, grid_resolution=40)
    eval_b = compute_decision_boundary(model, X, grid_resolution=40)
    assert np.array_equal(eval_a.probabilities, eval_b.probabilities)
    assert np.array_equal(eval_a.labels, eval_b.labels)
    assert eval_a.mode == "eval" and train_a.mode == "train"


# ---------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------


def test_draws_labelled_axes_points_and_legend():
    X = points()
    y = torch.arange(40) % 3
    fig, ax = plt.subplots()
    shown = plot_decision_boundary(multi_model(3), X, y, ax=ax, grid_resolution=20)
    assert shown.ax is ax and shown.figure is fig
    assert ax.get_xlabel() == "feature 1" and ax.get_ylabel() == "feature 2"
    assert "accuracy" in ax.get_title() and "eval mode" in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["class 0", "class 1", "class 2"]
    assert shown.scatter is not None and len(shown.scatter.get_offsets()) == 40
    assert shown.colorbar is None  # labels need no colour bar


@pytest.mark.parametrize("model", [binary_model(), multi_model()], ids=["binary", "multi"])
def test_probability_plot_has_a_colour_bar(model):
    shown = plot_decision_boundary(model, points(), response="probability", grid_resolution=20)
    assert shown.colorbar is not None
    assert len(shown.figure.axes) == 2


def test_pcolormesh_and_custom_title_and_cmap():
    shown = plot_decision_boundary(binary_model(), points(), plot_method="pcolormesh", cmap="viridis",
                                   title="mine", grid_resolution=20)
    assert shown.ax.get_title() == "mine"
    assert type(shown.surface).__name__ == "QuadMesh"


def test_replot_on_new_axes():
    shown = compute_decision_boundary(binary_model(), points(), grid_resolution=12)
    assert shown.ax is None
    fig, axes = plt.subplots(1, 2)
    shown.plot(axes[1], title="")
    assert shown.ax is axes[1] and axes[1].get_title() == ""


# ---------------------------------------------------------------------------
# Clear errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("X", "error", "match"),
    [
        (torch.randn(10, 3), ValueError, r"needs X of shape \(N, 2\), got \(10, 3\): it can only draw 2 input features"),
        (torch.randn(10), ValueError, r"needs X of shape \(N, 2\), got \(10,\)"),
        (torch.randn(0, 2), ValueError, "at least one point"),
        (torch.tensor([[0.0, float("nan")], [1.0, 2.0]]), ValueError, "NaN or infinite"),
        (np.array([[0.0, np.inf], [1.0, 2.0]]), ValueError, "NaN or infinite"),
        ([[0.0, 1.0], [1.0, 2.0]], TypeError, "NumPy array or a torch tensor"),
        (torch.randn(2, 200), ValueError, r"got \(2, 200\): it looks transposed .*pass X\.T"),
    ],
    ids=["3 features", "1-D", "empty", "nan", "inf", "list", "transposed"],
)
def test_bad_X(X, error, match):
    with pytest.raises(error, match=match):
        plot_decision_boundary(binary_model(), X)
    assert not plt.get_fignums(), "no empty figure is left behind"


@pytest.mark.parametrize(
    ("y", "error", "match"),
    [
        (torch.zeros(7), ValueError, "same number of points"),
        (torch.full((40,), 0.5), ValueError, "class labels"),
        (-torch.ones(40), ValueError, "class labels"),
        (torch.zeros(40, 2), ValueError, r"one class label per point"),
        (torch.full((40,), 3), ValueError, "predicts only 2 classes"),
    ],
    ids=["length", "fractional", "negative", "2-D", "unknown class"],
)
def test_bad_y(y, error, match):
    with pytest.raises(error, match=match):
        plot_decision_boundary(binary_model(), points(), y)


def test_model_with_three_inputs():
    with pytest.raises(ValueError, match="first layer takes 2 inputs") as info:
        plot_decision_boundary(make_mlp(in_features=3), points())
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize(
    ("out", "error", "match"),
    [
        (lambda x: x[:, :0], ValueError, r"returned no logits \(shape \(\d+, 0\)\).*nn\.Linear\(\.\.\., 1\)"),
        (lambda x: x.unsqueeze(2), ValueError, r"\(N,\), \(N, 1\) or \(N, K\).*returned shape \(\d+, 2, 1\)"),
        (lambda x: x[:1], ValueError, r"one row per point"),
        (lambda x: x.sum(), ValueError, r"returned shape \(\)"),
        (lambda x: (x > 0).long(), TypeError, r"floating-point logits, got dtype torch\.int64"),
    ],
    ids=["no logits", "3-D", "wrong rows", "scalar", "integer labels"],
)
def test_bad_output_shapes_get_clear_errors(out, error, match):
    class Returns(nn.Module):
        def forward(self, x):
            return out(x)

    with pytest.raises(error, match=match):
        plot_decision_boundary(Returns(), points(), grid_resolution=5)


def test_two_logits_with_a_third_class_in_y():
    with pytest.raises(ValueError, match=r"class label 2, but the model predicts only 2 classes"):
        plot_decision_boundary(two_logits(), points(), torch.arange(40) % 3)


def test_model_returning_a_tuple():
    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    with pytest.raises(TypeError, match="tensor of logits"):
        plot_decision_boundary(Pair(), points())


def test_model_returning_nan():
    model = binary_model()
    with torch.no_grad():
        model[0].weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN or infinite logits"):
        plot_decision_boundary(model, points())


@pytest.mark.parametrize("not_a_model", [None, make_mlp().state_dict(), torch.randn(3, 1)])
def test_non_module_is_a_type_error(not_a_model):
    with pytest.raises(TypeError, match="torch.nn.Module"):
        plot_decision_boundary(not_a_model, points())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"grid_resolution": 1}, ValueError, "grid_resolution must be between 2 and 1000"),
        ({"grid_resolution": 5000}, ValueError, "grid_resolution must be between 2 and 1000"),
        ({"grid_resolution": 20.0}, TypeError, "grid_resolution must be an int"),
        ({"grid_resolution": True}, TypeError, "grid_resolution must be an int"),
        ({"eps": -1}, ValueError, "eps must be >= 0"),
        ({"response": "proba"}, ValueError, r"response must be one of \['label', 'probability'\]"),
        ({"threshold": 1.5}, ValueError, "threshold must be between 0 and 1"),
        ({"mode": "training"}, ValueError, r"mode must be one of \['eval', 'train'\]"),
        ({"plot_method": "contour"}, ValueError, "plot_method must be one of"),
        ({"alpha": 2}, ValueError, "alpha must be >= 0.0 and <= 1.0"),
        ({"cmap": "no-such-map"}, ValueError, "not a matplotlib colormap"),
        ({"ax": "left"}, TypeError, "ax must be a matplotlib Axes"),
    ],
    ids=lambda v: str(v) if not isinstance(v, dict) else ",".join(v),
)
def test_bad_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        plot_decision_boundary(binary_model(), points(), **kwargs)


def test_predict_grid_wants_a_2d_tensor():
    from course_utils.plotting import predict_grid

    with pytest.raises(ValueError, match=r"shape \(M, features\)"):
        predict_grid(binary_model(), np.zeros((4, 2)))
    logits = predict_grid(binary_model(), torch.zeros(4, 2))
    assert logits.shape == (4, 1) and logits.dtype == torch.float32


def test_model_with_an_inner_shape_bug_is_not_blamed_on_the_input():
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(8, 1))
    with pytest.raises(ValueError, match=r"the model itself fails on input of shape \(N, 2\)") as info:
        plot_decision_boundary(model, points())
    assert "first layer takes 2 inputs" not in str(info.value)
    assert "mat1 and mat2" in str(info.value)  # torch's own message is shown


def test_train_mode_sends_everything_as_one_batch():
    torch.manual_seed(0)
    model = make_mlp(hidden=(8,), batchnorm=True).eval()
    one = compute_decision_boundary(model, points(), mode="train", grid_resolution=300)  # 90,000 rows > one chunk
    grid = torch.from_numpy(np.c_[one.xx.ravel(), one.yy.ravel()])
    with torch.no_grad():
        model.train()
        logits = model(torch.cat([grid, torch.as_tensor(points(), dtype=torch.float64)]).float())
        model.eval()
    expected = (torch.sigmoid(logits[: grid.shape[0], 0]) >= 0.5).long().numpy().reshape(one.labels.shape)
    assert (one.labels == expected).mean() > 0.999


def test_train_mode_single_point_batchnorm_error_is_clear():
    model = make_mlp(hidden=(8,), batchnorm=True)
    with pytest.raises(ValueError, match=r"in train mode BatchNorm.*at least 2 points, or use mode='eval'"):
        predict_grid(model, torch.zeros(1, 2), mode="train")


@pytest.mark.parametrize("threshold", [0.5, 0.8, 1.0])
def test_two_logits_follow_the_one_logit_rule(threshold):
    class Two(nn.Module):
        def forward(self, x):
            z = 40.0 * x[:, :1]  # P(class 1) = sigmoid(z): exactly 0.5 at x = 0, exactly 1.0 beyond z = 17
            return torch.cat([torch.zeros_like(z), z], dim=1)

    class One(nn.Module):
        def forward(self, x):
            return 40.0 * x[:, :1]

    X = torch.tensor([[-1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    two = compute_decision_boundary(Two(), X, threshold=threshold, grid_resolution=21)
    one = compute_decision_boundary(One(), X, threshold=threshold, grid_resolution=21)
    assert np.array_equal(two.labels, one.labels)
    assert two.labels.any()  # at threshold 1.0 the saturated points are class 1
