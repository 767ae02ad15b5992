"""fit / train_one_epoch / evaluate / History: the loop the later notebooks rely on."""

from __future__ import annotations

import copy

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from course_utils.conversions import accuracy  # noqa: E402
from course_utils.data import make_dataset  # noqa: E402
from course_utils.models import make_mlp  # noqa: E402
from course_utils.training import History, evaluate, fit, train_one_epoch  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest (and bit-reproducibly) on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def circles():
    return make_dataset("circles", n_samples=400, noise=0.1)


@pytest.fixture(scope="module")
def blobs():
    return make_dataset("blobs", n_samples=400, n_classes=4)


def _model(out: int = 1, seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    return make_mlp(2, out, hidden=(16, 16), **kwargs)


def _fit(model, data, *, test=True, loss_fn=None, lr=0.02, **kwargs) -> History:
    return fit(
        model,
        (data.X_train, data.y_train),
        (data.X_test, data.y_test) if test else None,
        loss_fn=loss_fn or nn.BCEWithLogitsLoss(),
        optimizer=torch.optim.Adam(model.parameters(), lr=lr),
        **kwargs,
    )


# ---------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------


def test_fit_returns_one_value_per_epoch(circles):
    history = _fit(_model(), circles, epochs=7)
    assert isinstance(history, History)
    for values in (history.train_loss, history.test_loss, history.train_acc, history.test_acc):
        assert len(values) == 7
        assert all(isinstance(v, float) for v in values)
    assert all(0.0 <= a <= 1.0 for a in history.train_acc + history.test_acc)


def test_fit_learns_circles(circles):
    history = _fit(_model(), circles, epochs=80)
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.test_loss[-1] < 0.5 * history.test_loss[0]
    assert history.test_acc[-1] > 0.9


def test_fit_without_test_data_records_train_metrics_only(circles):
    history = _fit(_model(), circles, test=False, epochs=5)
    assert len(history.train_loss) == len(history.train_acc) == 5
    assert history.test_loss == [] and history.test_acc == []
    assert "test" not in str(history)


def test_fit_multiclass_blobs(blobs):
    model = _model(out=4)
    history = _fit(model, blobs, loss_fn=nn.CrossEntropyLoss(), epochs=30, batch_size=64, seed=0)
    assert history.test_acc[-1] > 0.9
    assert history.train_loss[-1] < history.train_loss[0]


def test_full_batch_fit_matches_a_hand_written_loop(circles):
    """The notebook's claim: fit() is the same loop, bit for bit."""
    model = _model(dropout=0.1)
    hand = copy.deepcopy(model)
    loss_fn = nn.BCEWithLogitsLoss()
    opt = torch.optim.Adam(hand.parameters(), lr=0.02)
    torch.manual_seed(5)
    expected = History()
    for _ in range(5):
        hand.train()
        logits = hand(circles.X_train)
        loss = loss_fn(logits, circles.y_train)
        opt.zero_grad()
        loss.backward()
        opt.step()
        train_acc = accuracy(logits.detach(), circles.y_train)
        hand.eval()
        with torch.inference_mode():
            test_logits = hand(circles.X_test)
            test_loss = loss_fn(test_logits, circles.y_test).item()
            test_acc = accuracy(test_logits, circles.y_test)
        expected.append(loss.item(), train_acc, test_loss, test_acc)
    torch.manual_seed(5)
    got = _fit(model, circles, epochs=5)
    assert got == expected


def test_minibatch_training_is_deterministic_with_a_seed(circles):
    runs = [_fit(_model(), circles, epochs=4, batch_size=32, seed=s) for s in (3, 3, 4)]
    assert runs[0] == runs[1]
    assert runs[0].train_loss != runs[2].train_loss


def test_minibatches_make_more_updates_than_full_batch(circles):
    full = _fit(_model(), circles, epochs=3, lr=0.01)
    mini = _fit(_model(), circles, epochs=3, lr=0.01, batch_size=16, seed=0)
    assert mini.train_loss[-1] < full.train_loss[-1]


def test_fit_leaves_the_model_in_eval_mode(circles):
    model = _model(dropout=0.2, batchnorm=True)
    _fit(model, circles, epochs=2, batch_size=64, seed=0)
    assert all(not m.training for m in model.modules())
    _fit(model, circles, test=False, epochs=1)
    assert all(not m.training for m in model.modules())


def test_fit_trains_in_train_mode_and_evaluates_in_eval_mode(circles):
    model = _model(dropout=0.2)
    modes: list[bool] = []
    model.register_forward_hook(lambda m, *_: modes.append(m.training))
    _fit(model, circles, epochs=2, batch_size=160, seed=0)
    # per epoch: 2 training batches (320 samples) then 1 evaluation pass
    assert modes == [True, True, False, True, True, False]


def test_set_train_mode_can_keep_batchnorm_frozen(circles):
    model = _model(batchnorm=True)
    bn = model[1]
    before = bn.running_mean.clone()

    def train_but_freeze_bn(m: nn.Module) -> None:
        m.train()
        bn.eval()

    _fit(model, circles, epochs=2, set_train_mode=train_but_freeze_bn)
    assert torch.equal(bn.running_mean, before)


def test_fit_is_silent_unless_asked(circles, capsys):
    _fit(_model(), circles, epochs=3, batch_size=64, seed=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_fit_progress_bar_shows_metrics(circles, capsys):
    _fit(_model(), circles, epochs=3, progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "test_acc=" in err


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_fit_moves_the_model_and_evaluate_moves_the_data(circles, device):
    model = _model()
    history = _fit(model, circles, epochs=2, device=device, batch_size=64, seed=0)
    assert next(model.parameters()).device.type == device
    assert history.epochs == 2
    # the data stays on the CPU; evaluate() moves it to the model's device
    assert circles.X_test.device.type == "cpu"
    loss, acc = evaluate(model, circles.X_test, circles.y_test, nn.BCEWithLogitsLoss())
    assert (loss, acc) == pytest.approx((history.test_loss[-1], history.test_acc[-1]))


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"model": "net"}, TypeError, "torch.nn.Module"),
        ({"train": (None, None)}, TypeError, "train X must be a torch.Tensor"),
        ({"train": "data"}, TypeError, "pair (X_train, y_train)"),
        ({"train_slice": 10}, ValueError, "same number of samples"),
        ({"test": (torch.zeros(3, 2), torch.zeros(4, 1))}, ValueError, "test X and y must have"),
        ({"epochs": 0}, ValueError, "epochs must be an int >= 1"),
        ({"epochs": 2.5}, ValueError, "epochs must be an int >= 1"),
        ({"batch_size": 0}, ValueError, "batch_size must be a positive int"),
        ({"loss_fn": nn.BCEWithLogitsLoss}, TypeError, "with brackets"),
        ({"loss_fn": "bce"}, TypeError, "loss_fn must be callable"),
        ({"optimizer": "adam"}, TypeError, "torch.optim.Optimizer"),
        ({"other_optimizer": True}, ValueError, "does not hold any of this model's parameters"),
        ({"seed": -1}, ValueError, "seed must be"),
        ({"loss_fn": nn.BCEWithLogitsLoss(reduction="none")}, ValueError, "scalar tensor"),
    ],
)
def test_fit_rejects_bad_input_clearly(circles, kwargs, error, says):
    model = _model()
    args = {
        "model": model,
        "train": (circles.X_train, circles.y_train),
        "test": (circles.X_test, circles.y_test),
        "loss_fn": nn.BCEWithLogitsLoss(),
        "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
        "epochs": 2,
    }
    if kwargs.pop("train_slice", None):
        args["train"] = (circles.X_train, circles.y_train[:10])
    if kwargs.pop("other_optimizer", None):
        args["optimizer"] = torch.optim.SGD(_model().parameters(), lr=0.1)
    args.update(kwargs)
    with pytest.raises(error, match=None) as info:
        fit(args.pop("model"), args.pop("train"), args.pop("test"), **args)
    assert says in str(info.value)


# ---------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------


def test_evaluate_refuses_train_mode_with_a_clear_message(circles):
    model = _model(dropout=0.5)
    with pytest.raises(ValueError) as info:
        evaluate(model, circles.X_test, circles.y_test, nn.BCEWithLogitsLoss())
    message = str(info.value)
    assert "evaluate() needs the model in eval mode" in message
    assert "model.eval()" in message


def test_evaluate_refuses_mixed_modes_and_names_the_culprit(circles):
    model = _model(dropout=0.5).eval()
    model[2].train()  # the first Dropout, left in train mode
    with pytest.raises(ValueError, match=r"not: 2\. Call model\.eval\(\) first"):
        evaluate(model, circles.X_test, circles.y_test, nn.BCEWithLogitsLoss())


def test_evaluate_changes_nothing_and_builds_no_graph(circles):
    model = _model(batchnorm=True, dropout=0.3)
    _fit(model, circles, epochs=2, batch_size=64, seed=0)
    state = copy.deepcopy(model.state_dict())
    outputs: list[torch.Tensor] = []
    model.register_forward_hook(lambda m, i, out: outputs.append(out))
    first = evaluate(model, circles.X_test, circles.y_test, nn.BCEWithLogitsLoss())
    second = evaluate(model, circles.X_test, circles.y_test, nn.BCEWithLogitsLoss())
    assert first == second
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), f"{key} changed"
    assert all(not out.requires_grad and out.grad_fn is None for out in outputs)
    assert torch.is_grad_enabled()


def test_evaluate_in_batches_matches_full_batch(blobs):
    model = _model(out=4).eval()
    loss_fn = nn.CrossEntropyLoss()
    full = evaluate(model, blobs.X_test, blobs.y_test, loss_fn)
    chunked = evaluate(model, blobs.X_test, blobs.y_test, loss_fn, batch_size=7)
    assert chunked == pytest.approx(full, abs=1e-6)


def test_evaluate_threshold_changes_binary_accuracy(circles):
    model = _model().eval()
    loss_fn = nn.BCEWithLogitsLoss()
    _, at_zero = evaluate(model, circles.X_test, circles.y_test, loss_fn, threshold=0.0)
    _, at_one = evaluate(model, circles.X_test, circles.y_test, loss_fn, threshold=1.0)
    assert at_zero == pytest.approx(0.5)  # everything predicted as class 1; classes are balanced
    assert at_one == pytest.approx(0.5)


# ---------------------------------------------------------------------------
# train_one_epoch
# ---------------------------------------------------------------------------


def test_train_one_epoch_updates_weights_in_train_mode(circles):
    model = _model(dropout=0.1).eval()
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss, acc = train_one_epoch(model, circles.X_train, circles.y_train, nn.BCEWithLogitsLoss(), opt)
    assert model.training and all(m.training for m in model.modules())
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert isinstance(loss, float) and isinstance(acc, float)


def test_train_one_epoch_refuses_to_run_without_gradients(circles):
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with torch.no_grad(), pytest.raises(RuntimeError, match="outside torch.no_grad"):
        train_one_epoch(model, circles.X_train, circles.y_train, nn.BCEWithLogitsLoss(), opt)


# ---------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------


def test_history_prints_a_short_summary():
    history = History([0.9, 0.51234], [0.8, 0.45678], [0.5, 0.75], [0.55, 0.8])
    assert str(history) == (
        "History(2 epochs): train loss 0.5123, acc 0.7500; test loss 0.4568, acc 0.8000"
    )
    assert repr(history) == str(history)
    assert str(History()) == "History(0 epochs)"


def test_history_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="one value per epoch"):
        History([0.5, 0.4], [], [0.5], [])
    with pytest.raises(ValueError, match="one value per epoch"):
        History([0.5, 0.4], [0.3], [0.5, 0.6], [0.7])


def test_history_plot_has_two_labelled_panels():
    history = History([0.9, 0.5, 0.3], [0.8, 0.6, 0.4], [0.5, 0.7, 0.9], [0.5, 0.6, 0.8])
    fig = history.plot()
    try:
        assert isinstance(fig, matplotlib.figure.Figure)
        assert len(fig.axes) == 2
        for ax, ylabel in zip(fig.axes, ("loss", "accuracy"), strict=True):
            assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == ylabel and ax.get_title()
            labels = [line.get_label() for line in ax.get_lines()]
            assert labels == ["train (train mode)", "test (eval mode)"]
            assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3]
        assert list(fig.axes[0].get_lines()[1].get_ydata()) == [0.8, 0.6, 0.4]
    finally:
        plt.close(fig)


def test_history_plot_into_given_axes_and_without_test():
    fig, axes = plt.subplots(1, 2)
    try:
        assert History([0.5], [], [0.6], []).plot(axes) is fig
        assert [len(ax.get_lines()) for ax in axes] == [1, 1]
        with pytest.raises(ValueError, match="two matplotlib Axes"):
            History([0.5], [], [0.6], []).plot([axes[0]])
        with pytest.raises(ValueError, match="empty"):
            History().plot()
    finally:
        plt.close("all")
