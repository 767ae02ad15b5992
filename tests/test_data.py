"""course_utils.data: offline toy data sets with the shapes and dtypes the losses expect."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from course_utils.data import DATASETS, Split, digits_images, make_dataset


@pytest.mark.parametrize("name", ["circles", "moons"])
def test_binary_sets_shapes_and_dtypes(name):
    split = make_dataset(name, n_samples=200, test_size=0.25)
    assert split.n_classes == 2
    assert split.X_train.shape == (150, 2) and split.X_test.shape == (50, 2)
    assert split.X_train.dtype == torch.float32
    # binary targets are float (N, 1), ready for BCEWithLogitsLoss
    assert split.y_train.shape == (150, 1) and split.y_test.shape == (50, 1)
    assert split.y_train.dtype == torch.float32
    assert set(split.y_train.unique().tolist()) == {0.0, 1.0}
    loss = torch.nn.BCEWithLogitsLoss()(torch.zeros_like(split.y_train), split.y_train)
    assert loss.item() == pytest.approx(np.log(2))


def test_blobs_are_multiclass_long_targets():
    split = make_dataset("blobs", n_samples=300, n_classes=3, test_size=0.2)
    assert split.n_classes == 3
    assert split.X_train.shape == (240, 2) and split.X_test.shape == (60, 2)
    assert split.y_train.shape == (240,) and split.y_train.dtype == torch.long
    assert sorted(split.y_test.unique().tolist()) == [0, 1, 2]
    torch.nn.CrossEntropyLoss()(torch.zeros(240, 3), split.y_train)  # accepted as is
    X = torch.cat([split.X_train, split.X_test])
    torch.testing.assert_close(X.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(X.std(0, unbiased=False), torch.ones(2), atol=1e-5, rtol=0)


def test_the_split_is_stratified():
    split = make_dataset("blobs", n_samples=400, n_classes=4, test_size=0.25)
    assert torch.bincount(split.y_test).tolist() == [25, 25, 25, 25]
    circles = make_dataset("circles", n_samples=200, test_size=0.2)
    assert circles.y_test.sum().item() == 20


def test_circles_geometry_without_noise():
    split = make_dataset("circles", n_samples=100, noise=0.0)
    X = torch.cat([split.X_train, split.X_test])
    y = torch.cat([split.y_train, split.y_test]).squeeze(1)
    radius = X.norm(dim=1)
    torch.testing.assert_close(radius[y == 0], torch.ones(50))  # outer circle
    torch.testing.assert_close(radius[y == 1], torch.full((50,), 0.5))  # inner circle


@pytest.mark.parametrize("name", DATASETS)
def test_same_seed_same_data_other_seed_other_data(name):
    a, b = make_dataset(name, n_samples=100, seed=1), make_dataset(name, n_samples=100, seed=1)
    c = make_dataset(name, n_samples=100, seed=2)
    for field in ("X_train", "y_train", "X_test", "y_test"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert not torch.equal(a.X_train, c.X_train)


def test_split_to_device():
    split = make_dataset("moons", n_samples=50)
    moved = split.to("cpu")
    assert isinstance(moved, Split) and moved is not split
    assert moved.n_classes == 2 and torch.equal(moved.X_test, split.X_test)
    assert all(
        t.device.type == "cpu" for t in (moved.X_train, moved.y_train, moved.X_test, moved.y_test)
    )


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"name": "spirals"}, "name must be one of"),
        ({"n_samples": 5}, "n_samples must be an int >= 10"),
        ({"n_samples": 100.0}, "n_samples must be an int >= 10"),
        ({"n_samples": True}, "n_samples must be an int >= 10"),
        ({"test_size": 0}, "test_size must be between 0 and 1"),
        ({"test_size": 1.0}, "test_size must be between 0 and 1"),
        ({"noise": -0.1}, "noise must be a number >= 0"),
        ({"noise": "high"}, "noise must be a number >= 0"),
        ({"name": "blobs", "n_classes": 1}, "n_classes must be an int >= 2"),
        ({"name": "blobs", "n_classes": 2.0}, "n_classes must be an int >= 2"),
    ],
)
def test_make_dataset_validation(kwargs, words):
    with pytest.raises(ValueError, match=words):
        make_dataset(**kwargs)


def test_digits_images_all_classes():
    split = digits_images()
    assert split.n_classes == 10
    assert split.X_train.shape[1:] == (1, 8, 8) and split.X_test.shape[1:] == (1, 8, 8)
    assert split.X_train.shape[0] + split.X_test.shape[0] == 1797
    assert split.X_test.shape[0] == 450  # test_size=0.25
    assert split.X_train.dtype == torch.float32
    assert split.X_train.min().item() == 0.0 and split.X_train.max().item() == 1.0
    assert split.y_train.dtype == torch.long and split.y_train.shape == (split.X_train.shape[0],)
    assert sorted(split.y_train.unique().tolist()) == list(range(10))


def sorted_rows(a: np.ndarray) -> np.ndarray:
    flat = a.reshape(len(a), -1)
    return flat[np.lexsort(flat.T[::-1])]


@pytest.mark.parametrize("classes", [(3, 8), (8, 3), (0, 5, 9)])
def test_digits_classes_are_relabelled_in_the_given_order(classes):
    split = digits_images(classes)
    assert split.n_classes == len(classes)
    X = torch.cat([split.X_train, split.X_test]).numpy()
    y = torch.cat([split.y_train, split.y_test]).numpy()
    assert sorted(set(y.tolist())) == list(range(len(classes)))
    digits = load_digits()
    for label, digit in enumerate(classes):
        original = digits.images[digits.target == digit].astype(np.float32) / 16
        np.testing.assert_array_equal(sorted_rows(X[y == label]), sorted_rows(original))


def test_digits_are_deterministic_and_seeded():
    a, b, c = digits_images((1, 7)), digits_images((1, 7)), digits_images((1, 7), seed=1)
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.X_train, c.X_train)


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"classes": (3,)}, ValueError, "2\\+ distinct digits"),
        ({"classes": (3, 3)}, ValueError, "2\\+ distinct digits"),
        ({"classes": (3, 10)}, ValueError, "2\\+ distinct digits"),
        ({"classes": (-1, 2)}, ValueError, "2\\+ distinct digits"),
        ({"classes": (3.0, 8)}, TypeError, "ints from 0-9"),
        ({"classes": (True, 8)}, TypeError, "ints from 0-9"),
        ({"classes": 3}, TypeError, "tuple of digits such as \\(3, 8\\)"),
        ({"classes": "38"}, TypeError, "tuple of digits"),
        ({"test_size": 1.5}, ValueError, "test_size must be between 0 and 1"),
    ],
)
def test_digits_validation(kwargs, error, words):
    with pytest.raises(error, match=words):
        digits_images(**kwargs)


def test_digits_accepts_numpy_ints_and_lists():
    split = digits_images([np.int64(4), 9])
    assert split.n_classes == 2
