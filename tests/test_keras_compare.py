"""course_utils.keras_compare: the spy layer of notebook 09 and its measured comparison table."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from course_utils import keras_compare

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first import of keras
keras = pytest.importorskip("keras")

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


def _model_with_spy():
    spy = keras_compare.TrainingSpy(name="spy")
    model = keras.Sequential([keras.Input(shape=(2,)), spy, keras.layers.Dense(1)])
    return model, spy


def test_spy_records_training_grad_and_rows():
    model, spy = _model_with_spy()
    assert spy.calls == []  # building the model is a shape-only pass: not recorded
    x = np.zeros((5, 2), dtype="float32")
    model(x, training=True)
    with torch.no_grad():
        model(x[:3], training=False)
    model(x[:1])
    assert spy.calls == [(True, True, 5), (False, False, 3), (None, True, 1)]
    assert spy.calls[1].training is False and spy.calls[1].grad_enabled is False and spy.calls[1].rows == 3
    assert spy.received == [True, False, None]


def test_spy_skips_the_shape_only_trace_before_fit():
    model, spy = _model_with_spy()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((8, 2), "float32"), np.zeros((8, 1), "float32"), batch_size=4, epochs=1, verbose=0)
    assert [c.rows for c in spy.calls] == [4, 4]
    assert spy.received == [True]


def test_spy_passes_its_input_through():
    spy = keras_compare.TrainingSpy()
    x = torch.arange(6.0).reshape(3, 2)
    assert torch.equal(spy(x), x)


def _measured():
    torch_side = dict.fromkeys(keras_compare.REQUIRED["PyTorch"], True)
    keras_side = dict.fromkeys(keras_compare.REQUIRED["Keras"], False)
    torch_side["frozen_bn"] = (0.1418, 4.37)
    keras_side.update(frozen_bn=(0.0, 0.0), fit=([True], [False]), evaluate=[False], evaluate_grad=[False],
                      default_seen=None, nested_overridden=True)
    return {"PyTorch": torch_side, "Keras": keras_side}


def test_comparison_table_is_markdown_built_from_the_measurements():
    table = keras_compare.comparison_table(_measured())
    lines = table.splitlines()
    assert lines[0] == "| | PyTorch | Keras 3 |" and lines[1] == "|---|---|---|"
    assert len(lines) == 2 + 11
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines[2:])
    assert "running mean moved by 0.142" in table
    assert "`fit` passes `training=True` (grad on), `training=False` for validation" in table
    assert "received `training=True`" in table
    # Keras's layers receive None, except those with a default of their own (Dropout: False)
    assert "receive `training=None`, or their own default `False`" in table
    # the PyTorch validation step restores the previous modes, not a blanket train()
    assert "then the previous modes back" in table and "`train()` again" not in table


def test_comparison_table_follows_a_changed_measurement():
    measured = _measured()
    before = keras_compare.comparison_table(measured)
    measured["Keras"]["dropout_train"] = True
    assert keras_compare.comparison_table(measured) != before


def test_comparison_table_names_what_is_missing():
    measured = _measured()
    del measured["Keras"]["fit"], measured["PyTorch"]["val_repeat"]
    with pytest.raises(ValueError, match=r"lacks PyTorch/val_repeat, Keras/fit: run the notebook's cells"):
        keras_compare.comparison_table(measured)
    with pytest.raises(ValueError, match="Keras/eval_ignored"):
        keras_compare.comparison_table({"PyTorch": _measured()["PyTorch"]})
    with pytest.raises(TypeError, match="needs the dictionary `measured`.*got list"):
        keras_compare.comparison_table([1, 2])


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Spy'"):
        keras_compare.Spy  # noqa: B018


def test_importing_the_module_does_not_import_keras():
    code = "import sys, course_utils.keras_compare; print('keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
