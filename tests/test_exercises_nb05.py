"""The notebook 05 checkers accept correct answers and explain typical mistakes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises import nb05


def assert_fails(result, out: str, says: str, exercise: str) -> None:
    assert not result.passed
    assert says in result.message, result.message
    assert f"❌ Exercise {exercise}" in out and "Hint:" in out
    assert "Traceback" not in out


# ---------------------------------------------------------------------------
# Exercise 1: to_labels
# ---------------------------------------------------------------------------


def to_labels(logits: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    if logits.ndim == 1 or logits.shape[1] == 1:
        return (torch.sigmoid(logits.reshape(-1)) >= threshold).long()
    return logits.argmax(dim=1)


def labels_keep_column(logits, threshold=0.5):
    if logits.ndim == 2 and logits.shape[1] == 1:
        return (torch.sigmoid(logits) >= threshold).long()  # (N, 1)
    return to_labels(logits, threshold)


def labels_from_raw_logits(logits, threshold=0.5):
    if logits.ndim == 1 or logits.shape[1] == 1:
        return (logits.reshape(-1) >= threshold).long()
    return logits.argmax(dim=1)


def labels_ignore_threshold(logits, threshold=0.5):
    return to_labels(logits)


def labels_as_bool(logits, threshold=0.5):
    return to_labels(logits, threshold).bool()


def labels_in_place(logits, threshold=0.5):
    if logits.ndim == 1 or logits.shape[1] == 1:
        return (logits.sigmoid_().reshape(-1) >= threshold).long()
    return logits.argmax(dim=1)


def labels_argmin(logits, threshold=0.5):
    if logits.ndim == 1 or logits.shape[1] == 1:
        return to_labels(logits, threshold)
    return logits.argmin(dim=1)


def test_to_labels_correct_passes(capsys):
    assert nb05.check_exercise_1(to_labels).passed
    assert "✅ Exercise 1" in capsys.readouterr().out


def test_to_labels_via_softmax_also_passes(capsys):
    def via_probabilities(logits, threshold=0.5):
        if logits.ndim == 1 or logits.shape[1] == 1:
            return (torch.sigmoid(logits) >= threshold).long().squeeze(-1)
        return torch.softmax(logits, dim=1).argmax(dim=1)

    assert nb05.check_exercise_1(via_probabilities).passed


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (labels_keep_column, "must have shape (40,)"),
        (labels_from_raw_logits, "compared the logits with the threshold"),
        (labels_ignore_threshold, "ignored the threshold 0.8"),
        (labels_as_bool, "use .long()"),
        (labels_in_place, "changed the logits in place"),
        (labels_argmin, "argmax over dim=1"),
        (lambda logits, threshold=0.5: to_labels(logits, threshold).tolist(), "return a torch.Tensor"),
        ("to_labels", "expected a function"),
    ],
)
def test_to_labels_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb05.check_exercise_1(wrong)
    assert_fails(result, capsys.readouterr().out, says, "1")


def test_checker_does_not_touch_the_global_rng():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    nb05.check_exercise_1(to_labels)
    nb05.check_exercise_2(f1_at)
    nb05.check_exercise_3(binary_loss)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------------------
# Exercise 2: f1_at
# ---------------------------------------------------------------------------


def f1_at(threshold: float, probs: torch.Tensor, targets: torch.Tensor) -> float:
    pred = probs.reshape(-1) >= threshold
    truth = targets.reshape(-1) == 1
    tp = (pred & truth).sum().item()
    fp = (pred & ~truth).sum().item()
    fn = (~pred & truth).sum().item()
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def f1_nan_without_positives(threshold, probs, targets):
    pred = (probs.reshape(-1) >= threshold).float()
    y = targets.reshape(-1).float()
    tp = (pred * y).sum()
    precision = tp / pred.sum()
    recall = tp / y.sum()
    return (2 * precision * recall / (precision + recall)).item()


def f1_broadcasting(threshold, probs, targets):
    pred = probs >= threshold  # (N,) or (N, 1), left as given
    truth = targets == 1
    tp = (pred & truth).sum().item()
    fp = (pred & ~truth).sum().item()
    fn = (~pred & truth).sum().item()
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def accuracy_at(threshold, probs, targets):
    pred = (probs.reshape(-1) >= threshold).float()
    return (pred == targets.reshape(-1).float()).float().mean().item()


def precision_at(threshold, probs, targets):
    pred = probs.reshape(-1) >= threshold
    truth = targets.reshape(-1) == 1
    n = pred.sum().item()
    return (pred & truth).sum().item() / n if n else 0.0


def test_f1_at_correct_passes(capsys):
    assert nb05.check_exercise_2(f1_at).passed
    assert "✅ Exercise 2" in capsys.readouterr().out


def test_f1_at_returning_a_one_element_tensor_passes():
    assert nb05.check_exercise_2(lambda t, p, y: torch.tensor(f1_at(t, p, y))).passed


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (f1_nan_without_positives, "returned nan"),
        (f1_broadcasting, "broadcast to an (N, N) matrix"),
        (accuracy_at, "which is the accuracy"),
        (precision_at, "which is the precision"),
        (lambda t, p, y: (p.reshape(-1) >= t).float(), "return one number"),
        (lambda t, p, y: "0.5", "return a float"),
    ],
)
def test_f1_at_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb05.check_exercise_2(wrong)
    assert_fails(result, capsys.readouterr().out, says, "2")


# ---------------------------------------------------------------------------
# Exercise 3: binary_loss
# ---------------------------------------------------------------------------


def binary_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, targets.reshape(logits.shape).float())


def loss_without_reshape(logits, targets):
    return nn.BCEWithLogitsLoss()(logits, targets.float())


def loss_double_sigmoid(logits, targets):
    return binary_loss(torch.sigmoid(logits), targets)


def loss_bce_on_probabilities(logits, targets):
    return nn.BCELoss()(torch.sigmoid(logits), targets.reshape(logits.shape).float())


def loss_as_float(logits, targets):
    return binary_loss(logits, targets).item()


def loss_detached(logits, targets):
    return binary_loss(logits, targets).detach()


def loss_summed(logits, targets):
    return F.binary_cross_entropy_with_logits(
        logits, targets.reshape(logits.shape).float(), reduction="sum"
    )


def test_binary_loss_correct_passes(capsys):
    assert nb05.check_exercise_3(binary_loss).passed
    assert "✅ Exercise 3" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (loss_without_reshape, "Target size"),
        (loss_double_sigmoid, "double sigmoid"),
        (loss_bce_on_probabilities, "BCELoss on sigmoid outputs"),
        (loss_as_float, "one-element tensor"),
        (loss_detached, "carries no gradient"),
        (loss_summed, "expected"),
    ],
)
def test_binary_loss_mistakes_fail_with_a_reason(wrong, says, capsys):
    result = nb05.check_exercise_3(wrong)
    assert_fails(result, capsys.readouterr().out, says, "3")
