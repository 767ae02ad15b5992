"""course_utils.models: the MLP builder and the small CNN used across the notebooks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.models import ACTIVATIONS, SmallCNN, make_mlp
from course_utils.modes import mode_report


def layer_types(model: nn.Module) -> list[type]:
    return [type(m) for m in model]


def test_default_mlp_structure():
    model = make_mlp()
    assert isinstance(model, nn.Sequential)
    assert layer_types(model) == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert [(m.in_features, m.out_features) for m in model if isinstance(m, nn.Linear)] == [
        (2, 16),
        (16, 16),
        (16, 1),
    ]
    assert model(torch.zeros(5, 2)).shape == (5, 1)


def test_mlp_with_batchnorm_dropout_and_activation():
    model = make_mlp(3, 4, hidden=(8,), activation="tanh", dropout=0.25, batchnorm=True)
    assert layer_types(model) == [nn.Linear, nn.BatchNorm1d, nn.Tanh, nn.Dropout, nn.Linear]
    assert model[1].num_features == 8 and model[3].p == 0.25
    assert model(torch.randn(6, 3)).shape == (6, 4)
    assert [r.path for r in mode_report(model).dependent] == ["1", "3"]


def test_mlp_without_hidden_layers_is_linear():
    model = make_mlp(5, 3, hidden=(), dropout=0.5, batchnorm=True)
    assert layer_types(model) == [nn.Linear]
    assert (model[0].in_features, model[0].out_features) == (5, 3)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation(name):
    model = make_mlp(hidden=(4, 4), activation=name)
    assert layer_types(model) == [
        nn.Linear,
        ACTIVATIONS[name],
        nn.Linear,
        ACTIVATIONS[name],
        nn.Linear,
    ]


def test_mlp_outputs_logits_not_probabilities():
    torch.manual_seed(0)
    out = make_mlp(hidden=(), out_features=1)(torch.randn(200, 2) * 100)
    assert out.min() < 0 and out.max() > 1


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"activation": "swish"}, ValueError, "activation must be one of"),
        ({"dropout": 1.0}, ValueError, "dropout must be in \\[0, 1\\)"),
        ({"dropout": -0.1}, ValueError, "dropout must be in \\[0, 1\\)"),
        ({"hidden": (16, 0)}, ValueError, "layer sizes must be positive ints"),
        ({"hidden": (16.0,)}, ValueError, "layer sizes must be positive ints"),
        ({"hidden": (True,)}, ValueError, "layer sizes must be positive ints"),
        ({"in_features": 0}, ValueError, "layer sizes must be positive ints"),
        ({"out_features": 2.5}, ValueError, "layer sizes must be positive ints"),
        ({"hidden": 16}, TypeError, "hidden must be a sequence of layer widths"),
    ],
)
def test_mlp_validation(kwargs, error, words):
    with pytest.raises(error, match=words):
        make_mlp(**kwargs)


def test_small_cnn_shapes():
    torch.manual_seed(0)
    model = SmallCNN(n_classes=3, channels=(4, 8), hidden=16).eval()
    assert model(torch.rand(5, 1, 8, 8)).shape == (5, 3)
    assert model.features(torch.rand(5, 1, 8, 8)).shape == (5, 8, 2, 2)
    big = SmallCNN(channels=(4, 8), hidden=16, image_size=16).eval()
    assert big(torch.rand(2, 1, 16, 16)).shape == (2, 10)


def test_small_cnn_has_the_mode_dependent_layers():
    model = SmallCNN(dropout=0.4)
    dependent = {r.path: r.class_name for r in mode_report(model).dependent}
    assert dependent == {
        "features.1": "BatchNorm2d",
        "features.4": "Dropout2d",
        "features.6": "BatchNorm2d",
        "head.3": "Dropout",
    }
    assert model.features[4].p == 0.4 and model.head[3].p == 0.4


def test_small_cnn_train_and_eval_differ():
    torch.manual_seed(0)
    model = SmallCNN(channels=(4, 8), hidden=16)
    x = torch.rand(6, 1, 8, 8)
    train_out = model.train()(x)
    model.eval()
    assert not torch.allclose(train_out, model(x))
    assert torch.equal(model(x), model(x))


def test_small_cnn_rejects_a_single_image_without_batch_dimension():
    model = SmallCNN()
    image = torch.rand(1, 8, 8)
    with pytest.raises(
        ValueError, match=r"got \(1, 8, 8\); add a batch dimension with x.unsqueeze\(0\)"
    ):
        model(image)
    assert model.eval()(image.unsqueeze(0)).shape == (1, 10)


@pytest.mark.parametrize("shape", [(4, 3, 8, 8), (4, 1, 7, 7), (4, 64)])
def test_small_cnn_rejects_other_shapes(shape):
    with pytest.raises(ValueError, match=r"expects images of shape \(N, 1, 8, 8\)"):
        SmallCNN()(torch.rand(shape))


def test_small_cnn_image_size_must_allow_two_poolings():
    with pytest.raises(ValueError, match="image_size must be divisible by 4"):
        SmallCNN(image_size=10)
