"""course_utils.conversions: logits -> probabilities -> labels -> accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.conversions import (
    accuracy,
    check_logits,
    check_threshold,
    logits_to_labels,
    logits_to_probabilities,
)

BINARY = torch.tensor([[-2.0], [0.0], [3.0], [-0.5]])  # sigmoid: 0.119, 0.5, 0.953, 0.378


def test_binary_probabilities_are_sigmoid_with_the_same_shape():
    probs = logits_to_probabilities(BINARY)
    assert probs.shape == (4, 1)
    torch.testing.assert_close(probs, 1 / (1 + torch.exp(-BINARY)))
    flat = logits_to_probabilities(BINARY.squeeze(1))
    assert flat.shape == (4,)
    torch.testing.assert_close(flat, probs.squeeze(1))


def test_binary_labels_threshold_the_probability():
    labels = logits_to_labels(BINARY)
    assert labels.dtype == torch.long and labels.shape == (4,)
    assert labels.tolist() == [0, 1, 1, 0]  # sigmoid(0) = 0.5 counts as class 1
    assert logits_to_labels(BINARY, threshold=0.9).tolist() == [0, 0, 1, 0]
    assert logits_to_labels(BINARY, threshold=0.1).tolist() == [1, 1, 1, 1]
    assert logits_to_labels(BINARY, threshold=0.0).tolist() == [1, 1, 1, 1]
    assert logits_to_labels(BINARY, threshold=1).tolist() == [0, 0, 0, 0]
    assert logits_to_labels(BINARY.squeeze(1)).tolist() == [0, 1, 1, 0]


def test_multiclass_probabilities_are_softmax_rows():
    torch.manual_seed(0)
    logits = torch.randn(50, 4) * 3
    probs = logits_to_probabilities(logits)
    assert probs.shape == (50, 4)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(50))
    torch.testing.assert_close(probs, torch.softmax(logits, dim=1))


def test_multiclass_labels_argmax_of_probabilities_equals_argmax_of_logits():
    torch.manual_seed(1)
    logits = torch.randn(500, 5) * 4
    labels = logits_to_labels(logits)
    assert labels.dtype == torch.long and labels.shape == (500,)
    assert torch.equal(labels, logits.argmax(dim=1))
    assert torch.equal(labels, logits_to_probabilities(logits).argmax(dim=1))
    assert logits_to_labels(torch.tensor([[0.1, 2.0, -1.0], [5.0, 4.9, 0.0]])).tolist() == [1, 0]


@pytest.mark.parametrize("bad", [1.5, -0.1, 50])
def test_threshold_outside_zero_one_is_a_value_error(bad):
    with pytest.raises(ValueError, match="threshold must be between 0 and 1"):
        logits_to_labels(BINARY, threshold=bad)
    with pytest.raises(ValueError, match="threshold must be between 0 and 1"):
        accuracy(BINARY, torch.zeros(4), threshold=bad)


@pytest.mark.parametrize("bad", ["0.5", True, None, torch.tensor([0.5, 0.6]), np.bool_(True)])
def test_threshold_of_the_wrong_type_is_a_type_error(bad):
    with pytest.raises(TypeError, match="threshold must be a number between 0 and 1"):
        check_threshold(bad)


@pytest.mark.parametrize("value", [np.float32(0.25), np.float64(0.25), torch.tensor(0.25)])
def test_numpy_scalars_and_one_element_tensors_are_accepted(value):
    assert check_threshold(value) == pytest.approx(0.25)
    assert isinstance(check_threshold(value), float)


def test_nan_threshold_is_refused():
    with pytest.raises(ValueError, match="got nan"):
        check_threshold(float("nan"))


def test_check_threshold_returns_a_float():
    assert check_threshold(1) == 1.0 and isinstance(check_threshold(1), float)


@pytest.mark.parametrize(
    ("logits", "error", "words"),
    [
        ([0.1, 0.2], TypeError, "logits must be a torch.Tensor"),
        (torch.tensor([[1], [0]]), TypeError, "logits must be floating point"),
        (torch.zeros(2, 3, 4), ValueError, "got \\(2, 3, 4\\)"),
        (torch.zeros(0, 3), ValueError, "with N > 0"),
        (torch.tensor(0.3), ValueError, "\\(N,\\), \\(N, 1\\) or \\(N, K\\)"),
    ],
)
def test_logits_shape_and_type_errors(logits, error, words):
    with pytest.raises(error, match=words):
        check_logits(logits)
    with pytest.raises(error, match=words):
        logits_to_probabilities(logits)
    with pytest.raises(error, match=words):
        logits_to_labels(logits)


def test_accuracy_binary_with_float_column_and_long_targets():
    # labels are [0, 1, 1, 0]
    float_column = torch.tensor([[0.0], [1.0], [0.0], [0.0]])  # 3 of 4 right
    long_flat = torch.tensor([0, 1, 1, 0])
    assert accuracy(BINARY, float_column) == 0.75
    assert accuracy(BINARY, long_flat) == 1.0
    assert accuracy(BINARY.squeeze(1), float_column) == 0.75
    assert isinstance(accuracy(BINARY, long_flat), float)
    assert accuracy(BINARY, float_column, threshold=0.9) == 0.5  # labels [0, 0, 1, 0]


def test_accuracy_multiclass():
    logits = torch.tensor(
        [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    )
    targets = torch.tensor([0, 1, 2, 2, 0])
    assert accuracy(logits, targets) == pytest.approx(0.6)
    assert accuracy(logits, targets.unsqueeze(1)) == pytest.approx(0.6)


def test_accuracy_errors():
    with pytest.raises(ValueError, match="disagree on the number of samples: 4 vs 3"):
        accuracy(BINARY, torch.zeros(3))
    with pytest.raises(TypeError, match="targets must be a torch.Tensor"):
        accuracy(BINARY, [0, 1, 1, 0])
    with pytest.raises(ValueError, match="one-hot targets pass targets.argmax\\(dim=1\\)"):
        accuracy(torch.randn(4, 3), torch.eye(3)[[0, 1, 2, 0]])
    with pytest.raises(ValueError, match="whole-number labels"):
        accuracy(BINARY, torch.sigmoid(BINARY))
