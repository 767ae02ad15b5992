"""Small, offline data sets as ready-to-use tensors (all from scikit-learn).

Nothing is downloaded: circles, moons and blobs are generated, and the 8x8
digits ship inside scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import load_digits, make_blobs, make_circles, make_moons
from sklearn.model_selection import train_test_split

from .checks import check_choice, check_int, check_number, check_seed

__all__ = ["Split", "DATASETS", "make_dataset", "digits_images"]

DATASETS = ("circles", "moons", "blobs")


@dataclass
class Split:
    """Train/test tensors. ``y`` is float ``(N, 1)`` for binary tasks, long ``(N,)`` otherwise."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    def to(self, device: torch.device | str) -> Split:
        """Move all four tensors to ``device``."""
        return Split(
            self.X_train.to(device),
            self.y_train.to(device),
            self.X_test.to(device),
            self.y_test.to(device),
            self.n_classes,
        )


def _targets(y: np.ndarray, n_classes: int) -> torch.Tensor:
    if n_classes == 2:
        return torch.tensor(y, dtype=torch.float32).unsqueeze(1)  # for BCEWithLogitsLoss
    return torch.tensor(y, dtype=torch.long)  # for CrossEntropyLoss


def make_dataset(
    name: str = "circles",
    n_samples: int = 1000,
    noise: float = 0.05,
    n_classes: int = 4,
    test_size: float = 0.2,
    seed: int = 42,
) -> Split:
    """Generate a 2-D toy data set and split it into train and test tensors.

    Args:
        name: ``"circles"`` or ``"moons"`` (two classes) or ``"blobs"`` (``n_classes`` classes).
        n_samples: total number of points (at least 10).
        noise: standard deviation of the Gaussian noise (for blobs: the cluster spread).
        n_classes: number of blobs; ignored for circles and moons.
        test_size: fraction of points held out for testing, in (0, 1).
        seed: random seed, so the same call always returns the same data.
    """
    name = check_choice("name", name, DATASETS)
    n_samples = check_int("n_samples", n_samples, 10, what="an int >= 10", type_error=ValueError)
    test_size = _check_test_size(test_size)
    noise = check_number("noise", noise, 0, what="a number >= 0", type_error=ValueError)
    seed = check_seed(seed)
    if name == "circles":
        X, y = make_circles(n_samples, noise=noise, factor=0.5, random_state=seed)
        k = 2
    elif name == "moons":
        X, y = make_moons(n_samples, noise=noise, random_state=seed)
        k = 2
    else:
        n_classes = check_int("n_classes", n_classes, 2, what="an int >= 2", type_error=ValueError)
        X, y = make_blobs(
            n_samples, centers=n_classes, cluster_std=max(noise, 1e-3) * 20, random_state=seed
        )
        X = (X - X.mean(0)) / X.std(0)
        k = n_classes
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y
    )
    return Split(
        torch.tensor(X_tr, dtype=torch.float32),
        _targets(y_tr, k),
        torch.tensor(X_te, dtype=torch.float32),
        _targets(y_te, k),
        k,
    )


def _check_test_size(test_size: object) -> float:
    """The share held out for testing: a fraction strictly between 0 and 1."""
    return check_number(
        "test_size", test_size, 0, 1, low_open=True, high_open=True,
        what="between 0 and 1 (exclusive), a fraction such as 0.2", type_error=ValueError,
    )


def digits_images(
    classes: tuple[int, ...] | None = None,
    test_size: float = 0.25,
    seed: int = 0,
) -> Split:
    """scikit-learn's 8x8 digits as image tensors ``(N, 1, 8, 8)`` scaled to [0, 1].

    Args:
        classes: keep only these digits (labels are re-numbered 0..k-1 in that order);
            ``None`` keeps all ten.
        test_size: fraction held out for testing.
        seed: seed of the stratified split.
    """
    test_size = _check_test_size(test_size)
    seed = check_seed(seed)
    if classes is not None:
        if isinstance(classes, int | str) or not hasattr(classes, "__iter__"):
            raise TypeError(f"classes must be a tuple of digits such as (3, 8), got {classes!r}")
        classes = tuple(classes)
        bad = [c for c in classes if isinstance(c, bool) or not isinstance(c, int | np.integer)]
        if bad:
            raise TypeError(f"classes must contain ints from 0-9, got {classes}")
        classes = tuple(int(c) for c in classes)
    digits = load_digits()
    X = digits.images.astype(np.float32) / 16.0
    y = digits.target
    if classes is not None:
        bad = [c for c in classes if c not in range(10)]
        if bad or len(set(classes)) != len(classes) or len(classes) < 2:
            raise ValueError(f"classes must be 2+ distinct digits from 0-9, got {classes}")
        keep = np.isin(y, classes)
        X, y = X[keep], np.array([classes.index(t) for t in y[keep]])
    k = len(np.unique(y))
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y
    )
    to_img = lambda a: torch.tensor(a).unsqueeze(1)  # noqa: E731
    return Split(to_img(X_tr), torch.tensor(y_tr), to_img(X_te), torch.tensor(y_te), k)
