"""Predicates for scalar arguments that every layer of the package shares: an integer (a count,
a size, an axis, an index) and a real number, bools excluded.

[Note: bools are not numbers here] ``True`` is an ``int`` to Python (``isinstance(True, int)``)
and ``np.bool_`` is neither an ``int`` nor an ``np.integer``, so ``isinstance(v, (int,
np.integer))`` alone would take ``Dense(True)`` as one unit. No argument of deepcore means a
count or an index by a bool, so these predicates refuse both bool types; NumPy integer and
float scalars (what indexing an array or ``np.prod`` gives) are accepted like Python's. Each
caller keeps its own message and exception type (most name the argument and the op), except
``positive_int``, the check the Keras-style constructors share word for word.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["is_int", "is_real", "positive_int", "unit_rate"]

_INTS = (int, np.integer)
_REALS = (int, float, np.integer, np.floating)


def is_int(v: object) -> bool:
    """A Python or NumPy integer, not a bool ([Note: bools are not numbers here])."""
    return type(v) is int or (isinstance(v, _INTS) and not isinstance(v, bool))


def is_real(v: object) -> bool:
    """A Python or NumPy integer or float, not a bool (nor a complex)."""
    tv = type(v)
    return tv is float or tv is int or (isinstance(v, _REALS) and not isinstance(v, bool))


def positive_int(what: str, v: Any) -> int:
    """``v`` as an ``int`` >= 1; ``what`` names it in the ValueError, which is raised for the
    wrong type too (the constructors' message since before this helper):
    ``positive_int("Dense: units", units)``."""
    if not is_int(v) or v < 1:
        raise ValueError(f"{what} must be a positive integer, got {v!r}")
    return int(v)


def unit_rate(what: str, v: Any) -> float:
    """``v`` as a float in [0, 1) (a dropout rate; a Python or NumPy real, as Keras takes
    ``Dropout(np.float32(0.5))``); ``what`` names it in the ValueError, which is raised for the
    wrong type too: ``unit_rate("Dropout: rate", rate)``."""
    if not is_real(v) or not 0.0 <= v < 1.0:
        raise ValueError(f"{what} must be a number in [0, 1), got {v!r}")
    return float(v)
