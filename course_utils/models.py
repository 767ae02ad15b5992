"""Small models used across the notebooks."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .checks import check_choice, check_int, check_number

__all__ = ["ACTIVATIONS", "make_mlp", "SmallCNN"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "none": nn.Identity,
}


def make_mlp(
    in_features: int = 2,
    out_features: int = 1,
    hidden: Sequence[int] = (16, 16),
    activation: str = "relu",
    dropout: float = 0.0,
    batchnorm: bool = False,
) -> nn.Sequential:
    """A multi-layer perceptron: ``[Linear -> (BatchNorm) -> activation -> (Dropout)] * len(hidden) -> Linear``.

    ``hidden=()`` gives a purely linear model. The last layer outputs logits
    (no sigmoid/softmax): pair it with ``BCEWithLogitsLoss`` (1 output) or
    ``CrossEntropyLoss`` (K outputs).
    """
    check_choice("activation", activation, sorted(ACTIVATIONS))
    dropout = _check_dropout(dropout)
    if isinstance(hidden, int) or not hasattr(hidden, "__iter__"):
        raise TypeError(
            f"hidden must be a sequence of layer widths such as (16, 16) or () for none, "
            f"got {hidden!r}"
        )
    sizes = [in_features, *hidden]
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in [*sizes, out_features]):
        raise ValueError(f"layer sizes must be positive ints, got {sizes + [out_features]}")
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers.append(nn.Linear(a, b))
        if batchnorm:
            layers.append(nn.BatchNorm1d(b))
        layers.append(ACTIVATIONS[activation]())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(sizes[-1], out_features))
    return nn.Sequential(*layers)


def _check_dropout(dropout: object) -> float:
    """A dropout probability: a number in [0, 1) (p = 1 would zero every unit)."""
    return check_number("dropout", dropout, 0, 1, high_open=True)


def _check_positive_int(name: str, value: object) -> int:
    return check_int(name, value, 1, what="a positive int", type_error=ValueError)


class SmallCNN(nn.Module):
    """A CNN for 1x8x8 digit images with the mode-dependent layers of the course.

    ``features``: Conv(1->c1, 3x3, pad 1) -> BatchNorm2d -> ReLU -> MaxPool(2) -> Dropout2d
    -> Conv(c1->c2) -> BatchNorm2d -> ReLU -> MaxPool(2) gives ``(N, c2, 2, 2)``;
    ``head``: Flatten -> Linear(4*c2 -> hidden) -> ReLU -> Dropout -> Linear(hidden -> n_classes).
    """

    def __init__(
        self,
        n_classes: int = 10,
        channels: tuple[int, int] = (16, 32),
        hidden: int = 64,
        dropout: float = 0.3,
        image_size: int = 8,
    ):
        super().__init__()
        _check_positive_int("n_classes", n_classes)
        if isinstance(channels, str) or not isinstance(channels, Sequence) or len(channels) != 2:
            raise TypeError(
                f"channels must be a pair (c1, c2) of channel counts for the two conv layers, "
                f"such as (16, 32), got {channels!r}"
            )
        c1, c2 = (_check_positive_int("each channel count", c) for c in channels)
        _check_positive_int("hidden", hidden)
        _check_dropout(dropout)
        _check_positive_int("image_size", image_size)
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4 (two 2x2 poolings), got {image_size}")
        side = image_size // 4
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout2d(dropout),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * side * side, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )
        self.image_size = image_size

    def forward(self, x):
        if x.ndim != 4 or x.shape[1:] != (1, self.image_size, self.image_size):
            raise ValueError(
                f"SmallCNN expects images of shape (N, 1, {self.image_size}, {self.image_size}), "
                f"got {tuple(x.shape)}; add a batch dimension with x.unsqueeze(0) for one image"
            )
        return self.head(self.features(x))
