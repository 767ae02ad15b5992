"""nbval's output comparison, made to forgive floating-point drift and nothing else.

Floating-point results differ in the last bits between CPUs (SIMD width, MKL's code
path, fused multiply-add), and a few hundred training steps amplify that. A stored
``loss 0.0250`` may come out as ``0.0245`` on a learner's laptop. Exact text
comparison would turn the suite red there, although nothing is broken.

This module replaces nbval's ``IPyNbCell.compare_outputs`` (the root
``conftest.py`` installs it for every pytest run) and is imported by
``tests/test_determinism.py`` so both use one rule:

* Every text output is cut into **words** and **numbers**.
* Words must be identical: names, modes (``train``/``eval``), ``True``/``False``,
  dtypes, shapes, layer names, error messages. Runs of whitespace count as one
  space (a column can widen by one character when a value gains a digit).
* **Integers** (no decimal point, no exponent) must be identical: counts, sizes,
  indices, epochs.
* **Decimal numbers** (``0.25``, ``-3.1e-05``) may differ by
  ``rel * max(|a|, |b|) + abs``. The default, ``rel = 0.05`` and
  ``abs = 1e-9``, covers the drift seen between CPUs and still fails a number
  that is 40 % off (or has flipped sign), down to constants such as ``1e-08``.
  Float noise (``2.4e-07`` here, ``1.2e-07`` there) is not forgiven: a notebook
  prints ``max |difference| < 1e-6: True`` instead.
* A cell may widen its tolerance only through its metadata, with a reason::

      "metadata": {"nbval-tolerance": {"rel": 0.2, "why": "accuracy after 300 steps"}}

  ``rel`` may not exceed :data:`MAX_REL` (0.25), so even a widened cell still
  fails a 40 % change; ``tests/test_notebooks_committed.py`` refuses a widening
  without a ``why``.

Images and widget ids are never compared (as in nbval without ``--nbdime``).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

#: A number that stands on its own: not part of a name (``conv2``, ``features.4``
#: keep their digits as words) or of a version string (``2.13.0``).
NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:\d+\.\d+|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w]|\.\d)"
)
_SPACE = re.compile(r"\s+")

#: The default tolerance for decimal numbers, and the most a cell may ask for.
DEFAULT_REL = 0.05
DEFAULT_ABS = 1e-9
MAX_REL = 0.25
MAX_ABS = 1e-3
METADATA_KEY = "nbval-tolerance"


@dataclass(frozen=True)
class Tolerance:
    """How far two decimal numbers may differ: ``|a - b| <= rel * max(|a|, |b|) + abs``."""

    rel: float = DEFAULT_REL
    abs: float = DEFAULT_ABS

    def close(self, a: float, b: float) -> bool:
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return a == b
        return abs(a - b) <= self.rel * max(abs(a), abs(b)) + self.abs


DEFAULT = Tolerance()


def cell_tolerance(cell: Any) -> Tolerance:
    """The tolerance a cell asks for in its metadata, or the default.

    Raises ``ValueError`` for a widening without a reason or beyond the caps, so a
    notebook cannot quietly switch the comparison off.
    """
    metadata = cell.get("metadata", {}) if hasattr(cell, "get") else {}
    spec = metadata.get(METADATA_KEY)
    if spec is None:
        return DEFAULT
    if not isinstance(spec, dict) or not str(spec.get("why", "")).strip():
        raise ValueError(
            f"cell metadata {METADATA_KEY!r} must be a dict with a non-empty 'why' "
            f"(the reason the numbers of this cell vary more), got {spec!r}"
        )
    rel = float(spec.get("rel", DEFAULT_REL))
    abs_ = float(spec.get("abs", DEFAULT_ABS))
    if not (0 <= rel <= MAX_REL and 0 <= abs_ <= MAX_ABS):
        raise ValueError(
            f"cell metadata {METADATA_KEY!r}: rel must be in [0, {MAX_REL}] and abs in "
            f"[0, {MAX_ABS}] (a 40 % change must still fail), got rel={rel}, abs={abs_}"
        )
    return Tolerance(rel, abs_)


def _pieces(text: str) -> tuple[list[str], list[str]]:
    """``(words, numbers)``: the text with each number replaced by a slot, and the numbers."""
    numbers = NUMBER.findall(text)
    words = [_SPACE.sub(" ", part).strip() for part in NUMBER.split(text)]
    return words, numbers


def _is_integer(token: str) -> bool:
    return "." not in token and "e" not in token.lower()


def text_difference(ref: str, test: str, tol: Tolerance = DEFAULT) -> str | None:
    """Why ``test`` does not match ``ref`` under ``tol``, or ``None`` when it does."""
    if ref == test:
        return None
    ref_words, ref_numbers = _pieces(ref)
    test_words, test_numbers = _pieces(test)
    if ref_words != test_words or len(ref_numbers) != len(test_numbers):
        for i, (a, b) in enumerate(zip(ref_words, test_words, strict=False)):
            if a != b:
                return f"the text differs (not only numbers): {a!r} != {b!r} (text piece {i + 1})"
        return (
            f"the text differs (not only numbers): {len(ref_numbers)} numbers stored, "
            f"{len(test_numbers)} computed"
        )
    for i, (a, b) in enumerate(zip(ref_numbers, test_numbers, strict=True)):
        context = ref_words[i][-40:]
        if _is_integer(a) or _is_integer(b):
            if a.lstrip("+") != b.lstrip("+"):
                return (
                    f"integer {i + 1} (after {context!r}) differs: stored {a}, computed {b} "
                    "(integers, such as counts and sizes, must match exactly)"
                )
        elif not tol.close(float(a), float(b)):
            return (
                f"number {i + 1} (after {context!r}) differs: stored {a}, computed {b} "
                f"(tolerance: rel {tol.rel:g}, abs {tol.abs:g})"
            )
    return None


def value_difference(ref: Any, test: Any, tol: Tolerance = DEFAULT) -> str | None:
    """Like :func:`text_difference` for any output value (strings, lists, dicts)."""
    if isinstance(ref, str) and isinstance(test, str):
        return text_difference(ref, test, tol)
    if isinstance(ref, dict) and isinstance(test, dict):
        if set(ref) != set(test):
            return f"keys differ: {sorted(ref)} != {sorted(test)}"
        for key in ref:
            why = value_difference(ref[key], test[key], tol)
            if why:
                return f"[{key!r}] {why}"
        return None
    if isinstance(ref, list) and isinstance(test, list):
        if len(ref) != len(test):
            return f"lengths differ: {len(ref)} != {len(test)}"
        for i, (a, b) in enumerate(zip(ref, test, strict=True)):
            why = value_difference(a, b, tol)
            if why:
                return f"[{i}] {why}"
        return None
    return None if ref == test else f"{ref!r} != {test!r}"


def outputs_difference(
    ref: dict[str, list], test: dict[str, list], tol: Tolerance = DEFAULT
) -> str | None:
    """Compare two ``{field or MIME type: [values]}`` maps (nbval's flattened outputs)."""
    if set(ref) != set(test):
        missing, extra = set(ref) - set(test), set(test) - set(ref)
        return f"output fields differ: missing {sorted(missing)}, unexpected {sorted(extra)}"
    for key in ref:
        if len(ref[key]) != len(test[key]):
            return f"{key}: {len(ref[key])} outputs stored, {len(test[key])} computed"
        for a, b in zip(ref[key], test[key], strict=True):
            why = value_difference(a, b, tol)
            if why:
                return f"{key}: {why}"
    return None


# ---------------------------------------------------------------------------
# nbval hook
# ---------------------------------------------------------------------------


def _flatten(cell_item: Any, outputs: list, skip_compare: Any) -> dict[str, list]:
    flat: dict[str, list] = defaultdict(list)
    for out in outputs:
        for key, value in out.items():
            if key in skip_compare:
                continue
            if key == "data":
                for mime, data in value.items():
                    if mime not in skip_compare:
                        flat[mime].append(cell_item.sanitize(data))
            else:
                flat[key].append(cell_item.sanitize(value))
    return dict(flat)


def tolerant_compare_outputs(self: Any, test: list, ref: list, skip_compare: Any = None) -> bool:
    """Drop-in for ``nbval.plugin.IPyNbCell.compare_outputs`` using :func:`outputs_difference`."""
    from nbval.plugin import _trim_base64, transform_streams_for_comparison

    skip_compare = skip_compare or self.parent.skip_compare
    test_flat = _flatten(self, transform_streams_for_comparison(test), skip_compare)
    ref_flat = _flatten(self, transform_streams_for_comparison(ref), skip_compare)
    self.comparison_traceback = []
    try:
        tol = cell_tolerance(self.cell)
    except ValueError as exc:
        self.comparison_traceback.append(str(exc))
        return False
    why = outputs_difference(ref_flat, test_flat, tol)
    if why is None:
        return True
    cc = self.colors
    self.comparison_traceback.append(cc.FAIL + why + cc.ENDC)
    for key in sorted(set(ref_flat) | set(test_flat)):
        for label, flat in (("stored", ref_flat), ("computed", test_flat)):
            for value in flat.get(key, []):
                text = _trim_base64(value) if isinstance(value, str) else repr(value)
                self.comparison_traceback.append(f"  {label} {key}:\n    " + str(text).replace("\n", "\n    "))
    return False


def install() -> None:
    """Make nbval use the tolerant comparison (idempotent)."""
    from nbval.plugin import IPyNbCell

    IPyNbCell.compare_outputs = tolerant_compare_outputs


def pytest_configure(config: Any) -> None:
    """So that ``pytest -p nbval_tolerance`` (with ``tests/`` on the path) installs it too."""
    install()


# ---------------------------------------------------------------------------
# What nbval computed, for tests/test_determinism.py
# ---------------------------------------------------------------------------

#: ``{notebook path: {code cell number: outputs of the fresh nbval run}}``, filled as
#: nbval runs in this process (the root conftest keeps a notebook's nbval cells and
#: its determinism test on one xdist worker, nbval first).
RECORDED: dict[str, dict[int, list]] = {}


def pytest_runtest_teardown(item: Any) -> None:
    outputs = getattr(item, "test_outputs", None)
    if outputs is not None and hasattr(item, "cell_num"):
        import copy

        RECORDED.setdefault(str(item.parent.fspath), {})[item.cell_num] = copy.deepcopy(outputs)
