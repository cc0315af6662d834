"""deepcore._checks: the integer / real-number predicates every argument check shares
([Note: bools are not numbers here])."""

from __future__ import annotations

import enum
import fractions

import deepcore as dc
import numpy as np
import pytest
from deepcore._checks import is_int, is_real, positive_int, unit_rate


class _Level(enum.IntEnum):
    LOW = 1


INTS = [0, -3, 2**70, np.int8(-1), np.int64(5), np.uint64(2**63), np.intp(7), _Level.LOW]
FLOATS = [0.5, -1e300, float("inf"), float("nan"), np.float16(1), np.float32(2.5), np.float64(3)]
NEITHER = [
    True, False, np.bool_(True), np.bool_(False), 1j, np.complex64(1), "1", b"1", None,
    [1], (1,), np.array(1), np.array([1]), fractions.Fraction(1, 2), object(),
]  # fmt: skip


@pytest.mark.parametrize("v", INTS, ids=repr)
def test_integers_are_ints_and_reals(v):
    assert is_int(v) and is_real(v)


@pytest.mark.parametrize("v", FLOATS, ids=repr)
def test_floats_are_reals_not_ints(v):
    assert is_real(v) and not is_int(v)


@pytest.mark.parametrize("v", NEITHER, ids=repr)
def test_bools_and_non_scalars_are_neither(v):
    assert not is_int(v) and not is_real(v)


def test_numpy_bool_is_no_numpy_integer():
    # why is_int needs no np.bool_ case of its own: NumPy keeps it outside its number tower
    assert not isinstance(np.bool_(True), (int, np.integer, np.floating))


@pytest.mark.parametrize("v", [1, 7, np.int32(3), np.uint8(255), 2**62, _Level.LOW])
def test_positive_int_returns_a_python_int(v):
    out = positive_int("Dense: units", v)
    assert type(out) is int and out == int(v)


@pytest.mark.parametrize("v", [0, -1, np.int64(0), True, np.bool_(True), 1.0, 2.5, "2", None])
def test_positive_int_rejects_with_the_argument_named(v):
    with pytest.raises(ValueError, match=r"^Dense: units must be a positive integer, got "):
        positive_int("Dense: units", v)


def test_callers_keep_their_own_errors():
    """Two of the users: a layer through positive_int (ValueError for a bool too), an op through
    is_int with its own TypeError, and NumPy integers accepted by both."""
    with pytest.raises(ValueError, match="Dense: units must be a positive integer, got True"):
        dc.nn.Dense(True)
    assert dc.nn.Dense(np.int64(3)).units == 3
    x = dc.tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(TypeError, match="axis must be an int, got bool"):
        x.sum(axis=True)
    with pytest.raises(TypeError, match="axis must be an int, got bool"):
        x.sum(axis=np.bool_(False))
    np.testing.assert_array_equal(x.sum(axis=np.int64(1)).numpy(), [3.0, 12.0])


@pytest.mark.parametrize("v", [0, 0.0, 0.5, np.float32(0.25), np.float64(0.999), np.int64(0)])
def test_unit_rate_returns_a_python_float(v):
    out = unit_rate("Dropout: rate", v)
    assert type(out) is float and out == float(v)


@pytest.mark.parametrize("v", [1, 1.0, -0.1, np.float32(1.5), float("nan"), True, "0.5", None])
def test_unit_rate_rejects_with_the_argument_named(v):
    with pytest.raises(ValueError, match=r"^Dropout: rate must be a number in \[0, 1\), got "):
        unit_rate("Dropout: rate", v)


def test_numpy_rates_reach_the_layers():
    """Keras takes a NumPy float for a rate (a value computed with NumPy): every layer with a
    dropout rate, and the functional dropouts, store or use it as a Python float."""
    r = np.float32(0.25)
    assert dc.nn.Dropout(r).rate == 0.25 and type(dc.nn.Dropout(r).rate) is float
    cell = dc.nn.LSTM(4, dropout=r, recurrent_dropout=np.float64(0.5))
    assert (cell.dropout, cell.recurrent_dropout) == (0.25, 0.5)
    assert dc.nn.MultiHeadAttention(2, 4, dropout=r).dropout == 0.25
    assert dc.nn.GaussianDropout(r).rate == 0.25
    with pytest.raises(ValueError, match=r"^Dropout: rate must be a number in \[0, 1\), got True"):
        dc.nn.Dropout(True)
    x = dc.tensor(np.ones((64, 64), np.float32))
    y = dc.nn.functional.dropout(x, np.float32(0.5), training=True)
    kept = y.numpy()[y.numpy() != 0]
    assert 0 < kept.size < x.numpy().size and np.allclose(kept, 2.0)
