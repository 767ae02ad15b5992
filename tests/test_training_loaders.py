"""fit, evaluate and train_one_epoch take a DataLoader (or any re-iterable of batches) too.

The same numbers as with tensors, the same size-weighted averages (a short last
batch counts by its size), the same mode and grad restoring, and clear errors for
loaders a learner gets wrong.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.data import make_dataset
from course_utils.models import make_mlp
from course_utils.modes import mode_report
from course_utils.training import evaluate, fit, train_one_epoch


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def circles():
    return make_dataset("circles", n_samples=400, noise=0.1)  # 320 train, 80 test


def _model(seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return make_mlp(2, 1, hidden=(16, 16), **kwargs)


def _loader(X, y, batch_size, **kwargs) -> DataLoader:
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, **kwargs)


LOSS = nn.BCEWithLogitsLoss()


def test_fit_on_full_batch_loaders_equals_fit_on_tensors(circles):
    a, b = _model(), _model()
    on_tensors = fit(a, (circles.X_train, circles.y_train), (circles.X_test, circles.y_test),
                     loss_fn=LOSS, optimizer=torch.optim.Adam(a.parameters(), lr=0.02), epochs=5)
    train = _loader(circles.X_train, circles.y_train, batch_size=len(circles.y_train))
    test = _loader(circles.X_test, circles.y_test, batch_size=len(circles.y_test))
    on_loaders = fit(b, train, test, loss_fn=LOSS,
                     optimizer=torch.optim.Adam(b.parameters(), lr=0.02), epochs=5)
    assert on_loaders.train_loss == pytest.approx(on_tensors.train_loss, rel=1e-6)
    assert on_loaders.test_acc == pytest.approx(on_tensors.test_acc)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)
    assert not b.training  # fit leaves the model in eval mode, with a loader too


def test_a_list_of_batches_works_like_a_loader(circles):
    X, y = circles.X_train, circles.y_train
    batches = list(zip(X.split(100), y.split(100), strict=True))
    a, b = _model(), _model()
    one = fit(a, batches, loss_fn=LOSS, optimizer=torch.optim.SGD(a.parameters(), lr=0.1), epochs=3)
    two = fit(b, _loader(X, y, 100), loss_fn=LOSS, optimizer=torch.optim.SGD(b.parameters(), lr=0.1),
              epochs=3)
    assert one.train_loss == pytest.approx(two.train_loss, rel=1e-6)


def test_evaluate_weights_a_short_last_batch_by_its_size(circles):
    model = _model().eval()
    X, y = circles.X_test, circles.y_test  # 80 samples: batches of 32, 32 and 16
    full = evaluate(model, X, y, LOSS)
    batched = evaluate(model, _loader(X, y, 32), LOSS)
    assert batched == pytest.approx(full, rel=1e-6)
    # the unweighted mean of the three batch losses is a different number
    with torch.no_grad():
        per_batch = [LOSS(model(xb), yb).item() for xb, yb in _loader(X, y, 32)]
    assert abs(sum(per_batch) / 3 - full[0]) > 1e-4


def test_train_one_epoch_with_a_loader_averages_by_size_and_restores_nothing_it_should_not(circles):
    model = _model(dropout=0.0)
    X, y = circles.X_train[:70], circles.y_train[:70]  # batches of 32, 32 and 6
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: every batch sees the same weights
    loss, acc = train_one_epoch(model, _loader(X, y, 32), LOSS, optimizer)
    model.eval()
    assert (loss, acc) == pytest.approx(evaluate(model, X, y, LOSS), rel=1e-6)


def test_evaluate_refuses_train_mode_with_a_loader_too(circles):
    with pytest.raises(ValueError, match="eval mode"):
        evaluate(_model().train(), _loader(circles.X_test, circles.y_test, 16), LOSS)


def test_progress_bar_with_a_loader(circles, capsys):
    model = _model()
    history = fit(model, _loader(circles.X_train, circles.y_train, 64, shuffle=True,
                                 generator=torch.Generator().manual_seed(0)),
                  _loader(circles.X_test, circles.y_test, 64), loss_fn=LOSS,
                  optimizer=torch.optim.Adam(model.parameters(), lr=0.02), epochs=2, progress=True)
    assert history.epochs == 2
    assert "epochs" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# Loaders a learner gets wrong
# ---------------------------------------------------------------------------


def _fit_on(train, **kwargs):
    model = _model()
    return fit(model, train, loss_fn=LOSS, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
               epochs=kwargs.pop("epochs", 1), **kwargs)


def test_empty_loader(circles):
    empty = _loader(circles.X_train[:0], circles.y_train[:0], 8)
    with pytest.raises(ValueError, match="yielded no batches"):
        _fit_on(empty)
    dropped = _loader(circles.X_train[:5], circles.y_train[:5], 8, drop_last=True)
    with pytest.raises(ValueError, match="drop_last"):
        _fit_on(dropped)


def test_batches_that_are_not_pairs(circles):
    X, y = circles.X_train, circles.y_train
    triples = DataLoader(TensorDataset(X, y, y), batch_size=64)
    with pytest.raises(ValueError, match=r"batch 0 must be a pair \(xb, yb\), got a list of length 3"):
        _fit_on(triples)
    only_x = DataLoader(X, batch_size=64)  # a dataset of inputs alone: each batch is one tensor
    with pytest.raises(ValueError, match="must be a pair"):
        _fit_on(only_x)


def test_a_batch_of_the_wrong_shape_or_with_nan(circles):
    X, y = circles.X_train.clone(), circles.y_train
    bad = [(X[:64], y[:64]), (X[64:128], y[64:100])]
    with pytest.raises(ValueError, match="batch 1 X and y must have the same number of samples"):
        _fit_on(bad)
    X[70, 0] = float("nan")
    with pytest.raises(ValueError, match="batch 1 X contains NaN"):
        _fit_on(_loader(X, y, 64))


def test_a_one_shot_generator_is_refused(circles):
    gen = ((xb, yb) for xb, yb in _loader(circles.X_train, circles.y_train, 64))
    with pytest.raises(TypeError, match="one-shot"):
        _fit_on(gen, epochs=2)


@pytest.mark.parametrize("kwargs", [{"batch_size": 32}, {"seed": 0}])
def test_tensor_only_options_with_a_loader(circles, kwargs):
    with pytest.raises(ValueError, match="DataLoader batches and shuffles by itself"):
        _fit_on(_loader(circles.X_train, circles.y_train, 64), **kwargs)


def test_a_failing_batch_leaves_modes_and_grad_switch_as_they_were(circles):
    model = _model(dropout=0.2)
    model[0].eval()  # a mixed model: one layer in eval
    before = str(mode_report(model))
    X, y = circles.X_train, circles.y_train
    bad = [(X[:64], y[:64]), (X[64:128, :1], y[64:128])]  # the second batch has 1 feature
    with pytest.raises(ValueError, match="batch of X with shape"):
        fit(model, bad, loss_fn=LOSS, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=1)
    assert str(mode_report(model)) == before
    assert torch.is_grad_enabled()


def test_evaluate_and_train_one_epoch_argument_errors(circles):
    model = _model()
    with pytest.raises(TypeError, match="needs y"):
        evaluate(model.eval(), circles.X_test)
    with pytest.raises(TypeError, match="needs a loss_fn and an optimizer"):
        train_one_epoch(model, _loader(circles.X_train, circles.y_train, 64), LOSS)
    with pytest.raises(ValueError, match="DataLoader has its own batch_size"):
        evaluate(model.eval(), _loader(circles.X_test, circles.y_test, 8), LOSS, batch_size=4)
