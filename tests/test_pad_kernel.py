"""The native pad kernel (csrc/pad.h, `_C.pad` / `_C.pad_backward`): the threaded driver
against the single-threaded reference and np.pad over shapes with size-0 and size-1 axes,
widths wider than the axis (NumPy's repeated reflection), crops, every element width, the
row chunks of the threaded loop; the CuPy fallback of ops._shape.Pad (index composition) on
NumPy arrays; bad input. ops.pad / F.pad values and gradients: test_pad_unpool.py and
test_fuzz_indexing.py."""

from __future__ import annotations

import deepcore as dc
import numpy as np
import pytest
from deepcore import _C
from deepcore.ops._shape import _pad_by_indexing, _unpad_by_indexing
from hypothesis import given
from hypothesis import strategies as st

MODES = ["constant", "edge", "reflect", "symmetric", "wrap"]


def flat(widths):
    return tuple(v for pair in widths for v in pair)


def np_pad(x, widths, mode, fill=0):
    """np.pad with negative widths cropping first (the kernel's contract)."""
    x = x[tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(widths, x.shape))]
    widths = [(max(b, 0), max(a, 0)) for b, a in widths]
    if mode == "constant":
        return np.pad(x, widths, constant_values=fill)
    return np.pad(x, widths, mode=mode)


def adjoint_ok(x, widths, mode, gx, gy):
    """<pad(x), gy> == <x, pad^T(gy)>: the backward is the transpose of the (linear) forward."""
    return np.isclose((np_pad(x, widths, mode) * gy).sum(), (x * gx).sum(), rtol=1e-10, atol=1e-10)


CASES = [
    ((7,), [(3, 2)]),
    ((1,), [(4, 5)]),  # one element: every mode repeats it
    ((5,), [(12, 9)]),  # wider than the axis: repeated reflection / wrap
    ((3, 4), [(1, 0), (2, 3)]),
    ((2, 1, 3), [(0, 0), (2, 2), (1, 1)]),
    ((4, 3, 5, 6), [(0, 0), (1, 1), (-1, 2), (2, -3)]),  # crops, then pads
    ((2, 3, 5), [(1, 2), (0, 0), (0, 0)]),  # only the first axis
    ((2, 0, 3), [(1, 1), (0, 0), (2, 1)]),  # empty axis left alone
    ((3, 4), [(0, 0), (0, 0)]),  # nothing to do
    ((2, 3, 2, 2, 3), [(1, 0), (0, 1), (1, 1), (0, 2), (3, 0)]),
]


@pytest.mark.parametrize("shape,widths", CASES)
@pytest.mark.parametrize("mode", MODES)
def test_kernel_and_reference_match_numpy(shape, widths, mode):
    x = np.random.default_rng(0).standard_normal(shape)
    want = np_pad(x, widths, mode)
    for ref in (False, True):
        np.testing.assert_array_equal(_C.pad(x, flat(widths), mode, reference=ref), want)
    gy = np.random.default_rng(1).standard_normal(want.shape)
    gx = _C.pad_backward(gy, shape, flat(widths), mode)
    gr = _C.pad_backward(gy, shape, flat(widths), mode, reference=True)
    np.testing.assert_allclose(gx, gr, rtol=1e-13, atol=1e-13)
    assert gx.shape == shape and adjoint_ok(x, widths, mode, gx, gy)


def test_constant_fill_and_every_element_width():
    for dt in [np.bool_, np.int8, np.uint8, np.int16, np.float16, np.int32, np.float32,
               np.int64, np.uint64, np.float64]:  # fmt: skip
        x = (np.arange(12) % 5).astype(dt).reshape(3, 4)
        fill = np.array([1], dt)
        for mode in MODES:
            kw = {"fill": fill} if mode == "constant" else {}
            got = _C.pad(x, (1, 2, 2, 1), mode, **kw)
            want = np_pad(x, [(1, 2), (2, 1)], mode, fill=fill[0])
            assert got.dtype == dt
            np.testing.assert_array_equal(got, want)
    # a negative zero fill keeps its sign (the None fast path is only for +0)
    y = dc.pad(dc.tensor(np.ones(2, np.float32)), [(1, 1)], constant_values=-0.0).numpy()
    assert np.signbit(y[0]) and np.signbit(y[-1])


@pytest.mark.parametrize("mode", MODES)
def test_forward_row_blocks_and_copy_sizes(mode):
    """[Note: pad rows in three passes] over its regions, bitwise against np.pad and the naive
    kernel: blocks of 64 rows and a partial last block (130 rows), rows over the 16 KiB block
    (one row per block), more padded columns than rows in a block (the row-by-row branch),
    fill rows from a padded leading axis, and runs of every copy size (1 to 300 bytes: the
    byte loop, the overlapping 4 / 8 / 16 / 32-byte moves and the library copy) for every
    element width."""
    rng = np.random.default_rng(21)
    cases = [
        ((2, 65, 9), [(1, 0), (2, 3), (2, 1)]),  # 130-row blocks of a (3, 70, 12) output
        ((3, 5000), [(1, 2), (3, 4)]),  # 20 KB rows: one per block
        ((2, 3, 6), [(0, 0), (1, 1), (5, 5)]),  # 16 padded columns, 5 rows per plane
        ((1, 2, 3), [(2, 2), (0, 1), (30, 40)]),  # rows of 73, 70 of them padding
    ]
    for dt in (np.uint8, np.float16, np.float32, np.float64):
        for n in (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 75):
            cases.append(((4, n), [(1, 0), (2, 1)]))
        for shape, widths in cases:
            x = (
                rng.integers(0, 200, shape).astype(dt)
                if dt == np.uint8
                else rng.standard_normal(shape).astype(dt)
            )
            fill = np.array([7], dt)
            kw = {"fill": fill} if mode == "constant" else {}
            got = _C.pad(x, flat(widths), mode, **kw)
            np.testing.assert_array_equal(got, np_pad(x, widths, mode, fill=fill[0]))
            np.testing.assert_array_equal(got, _C.pad(x, flat(widths), mode, reference=True, **kw))


@pytest.mark.parametrize("mode", MODES)
def test_threaded_row_chunks_match_the_reference(mode):
    # more than one row chunk (2**15 elements each), chunks starting inside a plane,
    # on every thread count
    shape, widths = (3, 37, 61, 29), [(1, 0), (2, 3), (-4, 5), (7, 6)]
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    want = _C.pad(x, flat(widths), mode, reference=True)
    gy = np.random.default_rng(3).standard_normal(want.shape).astype(np.float32)
    gref = _C.pad_backward(gy, shape, flat(widths), mode, reference=True)
    before = dc.kernels.get_num_threads()
    try:
        for n in (1, 2, 3):
            dc.kernels.set_num_threads(n)
            np.testing.assert_array_equal(_C.pad(x, flat(widths), mode), want)
            gx = _C.pad_backward(gy, shape, flat(widths), mode)
            np.testing.assert_allclose(gx, gref, rtol=1e-5, atol=1e-5)
    finally:
        dc.kernels.set_num_threads(before)


@pytest.mark.parametrize("shape,widths", CASES)
@pytest.mark.parametrize("mode", MODES)
def test_index_fallback_matches_the_kernel(shape, widths, mode):
    """ops._shape.Pad pads arrays of other libraries (CuPy) by indexing: checked here on
    NumPy arrays against the kernel, forward and backward."""
    x = np.random.default_rng(4).standard_normal(shape)
    fill = np.array([2.5]) if mode == "constant" else None
    got = _pad_by_indexing(x, flat(widths), mode, fill)
    np.testing.assert_array_equal(got, _C.pad(x, flat(widths), mode, fill))
    gy = np.random.default_rng(5).standard_normal(got.shape)
    np.testing.assert_allclose(
        _unpad_by_indexing(gy, shape, flat(widths), mode),
        _C.pad_backward(gy, shape, flat(widths), mode),
        rtol=1e-12,
        atol=1e-12,
    )


def test_float16_gradient_and_integer_forward():
    x = dc.tensor(np.arange(6, dtype=np.float16).reshape(2, 3), requires_grad=True)
    y = dc.pad(x, [(1, 0), (2, 2)], "reflect")
    y.backward(np.ones(y.shape, np.float16))
    assert x.grad.dtype == np.float16
    np.testing.assert_array_equal(
        x.grad.numpy(), _C.pad_backward(np.ones(y.shape), (2, 3), (1, 0, 2, 2), "reflect")
    )
    i = dc.pad(dc.tensor(np.arange(4, dtype=np.int64)), [(2, 1)], "wrap")
    np.testing.assert_array_equal(i.numpy(), [2, 3, 0, 1, 2, 3, 0])
    with pytest.raises(ValueError, match="cannot fill an array of dtype int64"):
        dc.pad(dc.tensor(np.arange(4)), [(1, 1)], constant_values=float("nan"))


widths_st = st.lists(st.tuples(st.integers(-3, 7), st.integers(-3, 7)), min_size=1, max_size=4)


@given(widths_st, st.sampled_from(MODES), st.integers(0, 2**31))
def test_fuzz_kernel_against_reference(widths, mode, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(0, 6, len(widths)))
    # keep only the widths the contract allows: crops no deeper than the axis, and no padding
    # of an axis that is empty after cropping unless the mode is constant
    ok = []
    for (b, a), n in zip(widths, shape):
        b, a = max(b, -n), max(a, -(n + min(b, 0)))
        left = n + min(b, 0) + min(a, 0)
        if left == 0 and mode != "constant":
            b, a = min(b, 0), min(a, 0)
        ok.append((b, a))
    x = rng.standard_normal(shape)
    want = np_pad(x, ok, mode)
    got = _C.pad(x, flat(ok), mode)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(_C.pad(x, flat(ok), mode, reference=True), want)
    gy = rng.standard_normal(want.shape)
    gx = _C.pad_backward(gy, shape, flat(ok), mode)
    np.testing.assert_allclose(
        gx, _C.pad_backward(gy, shape, flat(ok), mode, reference=True), rtol=1e-12, atol=1e-12
    )


def test_bad_input():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="two ints .* per axis"):
        _C.pad(x, (1, 1))
    with pytest.raises(TypeError, match="widths must be a tuple"):
        _C.pad(x, 3)
    with pytest.raises(TypeError, match=r"widths\[1\] must be an int"):
        _C.pad(x, (1, 1.5, 0, 0))
    with pytest.raises(ValueError, match=r"widths\[0\] is out of range"):
        _C.pad(x, (2**64, 0, 0, 0))
    with pytest.raises(ValueError, match="does not fit in 64 bits|too large"):
        _C.pad(x, (2**62, 2**62, 0, 0))
    with pytest.raises(ValueError, match="too large"):
        _C.pad(x, (2**40, 0, 2**40, 0))
    with pytest.raises(ValueError, match="negative size"):
        _C.pad(x, (-2, -1, 0, 0))
    with pytest.raises(ValueError, match="cannot pad the empty axis 1"):
        _C.pad(np.zeros((2, 0)), (0, 0, 1, 0), "reflect")
    with pytest.raises(ValueError, match="mode must be"):
        _C.pad(x, (0, 0, 0, 0), "replicate")
    with pytest.raises(TypeError, match="boolean, integer or float"):
        _C.pad(np.zeros(3, np.complex64), (1, 1))
    with pytest.raises(TypeError, match="boolean, integer or float"):
        _C.pad(np.array(["a", "b"]), (1, 1))
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.pad(np.zeros((4, 4))[:, ::2], (1, 1, 1, 1))
    with pytest.raises(TypeError, match="fill has dtype"):
        _C.pad(x, (1, 1, 0, 0), "constant", np.array([1], np.float32))
    with pytest.raises(ValueError, match="one-element"):
        _C.pad(x, (1, 1, 0, 0), "constant", np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="fill is only for mode 'constant'"):
        _C.pad(x, (1, 1, 0, 0), "edge", np.array([1.0]))
    with pytest.raises(TypeError, match="must be a numpy array"):
        _C.pad([1.0, 2.0], (1, 1))
    with pytest.raises(ValueError, match="dy must have the padded shape"):
        _C.pad_backward(np.zeros((3, 3)), (2, 3), (1, 1, 0, 0))
    with pytest.raises(TypeError, match="dy must have dtype float32 or float64"):
        _C.pad_backward(np.zeros((4, 3), np.int32), (2, 3), (1, 1, 0, 0))
    with pytest.raises(ValueError, match="input_shape must have 2 entries"):
        _C.pad_backward(np.zeros((4, 3)), (2, 3, 1), (1, 1, 0, 0))
    # nothing was written into the input
    assert not x.any()
