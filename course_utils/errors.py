"""Show an expected error in a notebook without leaving an error output.

Pitfall cells reproduce a mistake on purpose. A raised exception would leave a
red traceback in the committed notebook (and stop "Run all"), so pitfall cells
use :func:`expect_error`, which prints the exception's type and message and
fails loudly if the mistake did *not* raise.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["expect_error", "CaughtError"]


@dataclass
class CaughtError:
    """What :func:`expect_error` caught: filled in when the ``with`` block ends."""

    type_name: str = ""
    message: str = ""
    exception: BaseException | None = None


@contextmanager
def expect_error(
    *expected: type[BaseException], match: str | None = None
) -> Iterator[CaughtError]:
    """Run a block that is supposed to raise one of ``expected``, and print the error.

    Example::

        with expect_error(ValueError):
            nn.BatchNorm1d(3).train()(torch.randn(1, 3))

    prints ``ValueError: Expected more than 1 value per channel when training, ...``.

    Args:
        expected: the exception types the block should raise (default: ``Exception``).
        match: optional text the message must contain.

    Raises:
        AssertionError: if the block raised nothing, or ``match`` is not in the message.
        BaseException: any exception that is not one of ``expected`` propagates unchanged.
    """
    bad = [k for k in expected if not (isinstance(k, type) and issubclass(k, BaseException))]
    if bad:
        raise TypeError(
            f"expect_error takes exception classes such as ValueError (not instances or "
            f"names), got {bad[0]!r}"
        )
    if match is not None and not isinstance(match, str):
        raise TypeError(f"match must be a string or None, got {type(match).__name__}")
    kinds = expected or (Exception,)
    caught = CaughtError()
    try:
        yield caught
    except kinds as exc:  # noqa: B030 - a tuple of exception classes
        caught.type_name = type(exc).__name__
        caught.message = str(exc).strip()
        caught.exception = exc
        first_line = caught.message.splitlines()[0] if caught.message else ""
        print(f"{caught.type_name}: {first_line}")
        if match is not None and match not in caught.message:
            raise AssertionError(
                f"expected the error message to contain {match!r}, got {caught.message!r}"
            ) from exc
    else:
        names = " or ".join(k.__name__ for k in kinds)
        raise AssertionError(f"expected {names}, but the code ran without an error")
