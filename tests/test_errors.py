"""course_utils.errors.expect_error: show a deliberate error without a traceback."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.errors import CaughtError, expect_error


def test_prints_type_and_message_and_keeps_the_exception(capsys):
    error = ValueError("threshold must be between 0 and 1")
    with expect_error(ValueError) as caught:
        raise error
    assert capsys.readouterr().out == "ValueError: threshold must be between 0 and 1\n"
    assert isinstance(caught, CaughtError)
    assert caught.type_name == "ValueError"
    assert caught.message == "threshold must be between 0 and 1"
    assert caught.exception is error


def test_prints_only_the_first_line(capsys):
    with expect_error(RuntimeError) as caught:
        raise RuntimeError("  first line\nsecond line\nthird line  ")
    assert capsys.readouterr().out == "RuntimeError: first line\n"
    assert caught.message == "first line\nsecond line\nthird line"


def test_empty_message(capsys):
    with expect_error(KeyError):
        raise KeyError
    assert capsys.readouterr().out == "KeyError: \n"


def test_a_real_pytorch_error(capsys):
    with expect_error(ValueError, match="Expected more than 1 value per channel"):
        nn.BatchNorm1d(3).train()(torch.randn(1, 3))
    assert capsys.readouterr().out.startswith("ValueError: Expected more than 1 value per channel")


def test_no_error_is_a_failure(capsys):
    with pytest.raises(
        AssertionError, match="^expected ValueError, but the code ran without an error$"
    ):
        with expect_error(ValueError):
            pass
    assert capsys.readouterr().out == ""


def test_no_error_names_every_expected_type():
    with pytest.raises(AssertionError, match="expected TypeError or ValueError, but"):
        with expect_error(TypeError, ValueError):
            pass


def test_other_exception_types_propagate(capsys):
    with pytest.raises(KeyError, match="missing"):
        with expect_error(ValueError):
            raise KeyError("missing")
    assert capsys.readouterr().out == ""


def test_any_of_several_types_and_subclasses(capsys):
    with expect_error(TypeError, ValueError):
        raise TypeError("wrong type")
    with expect_error(LookupError):  # KeyError is a LookupError
        {}["x"]
    assert capsys.readouterr().out == "TypeError: wrong type\nKeyError: 'x'\n"


def test_default_catches_any_exception_but_not_keyboard_interrupt(capsys):
    with expect_error() as caught:
        raise ZeroDivisionError("division by zero")
    assert caught.type_name == "ZeroDivisionError"
    with pytest.raises(KeyboardInterrupt), expect_error():
        raise KeyboardInterrupt


def test_match(capsys):
    with expect_error(ValueError, match="per channel"):
        raise ValueError("Expected more than 1 value per channel when training")
    with pytest.raises(AssertionError, match="to contain 'shape'") as info:
        with expect_error(ValueError, match="shape"):
            raise ValueError("something else")
    assert isinstance(info.value.__cause__, ValueError)
    # the error was still shown before the mismatch was reported
    assert capsys.readouterr().out.splitlines()[-1] == "ValueError: something else"


def test_match_looks_beyond_the_first_line():
    with expect_error(RuntimeError, match="line two"):
        raise RuntimeError("line one\nline two")


@pytest.mark.parametrize("bad", ["ValueError", ValueError("x"), int])
def test_rejects_things_that_are_not_exception_classes(bad):
    with pytest.raises(TypeError, match="exception classes such as ValueError"):
        with expect_error(bad):
            raise ValueError


def test_rejects_non_string_match():
    with pytest.raises(TypeError, match="match must be a string"):
        with expect_error(ValueError, match=3):
            raise ValueError("3")
